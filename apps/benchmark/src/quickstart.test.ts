import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli';

const repository = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = 'node apps/benchmark/dist/cli.js ';

/** The commands of the README's "Quick start: your own images" block, continuation lines joined. */
function quickStartCommands(): string[] {
  const readme = readFileSync(join(repository, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start: your own images'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.replace(/\\\n\s*/g, '').trim().split('\n');
}

describe('the README quick start', () => {
  it('runs its four commands on the committed image folder: data, train with a validation split, predict, export', { timeout: 60_000 }, async () => {
    const commands = quickStartCommands();
    expect(commands.map((command) => command.slice(CLI.length).split(' ')[0])).toEqual(['data', 'train', 'predict', 'export']);
    const out = mkdtempSync(join(tmpdir(), 'visual-peft-quickstart-'));
    // The README's paths are from the repository root; out/quickstart goes to a fresh folder.
    const run = (command: string) => {
      expect(command.startsWith(CLI), command).toBe(true);
      const args = command.slice(CLI.length).split(/\s+/).map((arg) => (arg.startsWith('out/quickstart') ? join(out, arg.slice('out/quickstart'.length)) : arg.startsWith('apps/') ? resolve(repository, arg) : arg));
      return runCli(...args);
    };
    const [data, train, predict, exported] = [await run(commands[0]!), await run(commands[1]!), await run(commands[2]!), await run(commands[3]!)];
    for (const result of [data, train, predict, exported]) expect(result.code, result.stderr.join('\n')).toBe(0);

    expect(JSON.parse(data.stdout[0]!)).toMatchObject({ numClasses: 3, splits: { train: 18, val: 6 }, problems: [] });
    const result = JSON.parse(train.stdout[0]!);
    expect(result).toMatchObject({ trainSplit: 'train', evalSplit: 'val', status: 'completed' });
    expect(Object.keys(result.classAccuracy)).toEqual(['bag', 'sandal', 'sneaker']);
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).classAccuracy).toEqual(result.classAccuracy);
    expect(train.stderr).toContain(`val: top-1 ${(100 * result.top1).toFixed(2)}%; per class: ${Object.entries(result.classAccuracy as Record<string, number>).map(([name, accuracy]) => `${name} ${(100 * accuracy).toFixed(2)}%`).join(', ')}`);
    // Each class's top-1 over its two validation images; top-1 is their mean as every class has two.
    const accuracies = Object.values(result.classAccuracy as Record<string, number>);
    for (const accuracy of accuracies) expect([0, 0.5, 1]).toContain(accuracy);
    expect(result.top1).toBeCloseTo(accuracies.reduce((sum, value) => sum + value, 0) / 3, 12);

    const prediction = JSON.parse(predict.stdout[0]!);
    expect(prediction.top.map((entry: { class: string }) => entry.class)).toHaveLength(3);
    expect(prediction.top[0].class).toBe('sneaker');
    expect(exported.stderr.at(-1)).toBe('export: lora folded into the backbone, 56 timm-named tensors, 3 classes');
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });
});

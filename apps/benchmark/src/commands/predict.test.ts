import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeImageFolder } from './__fixtures__/image-folder';
import { runCli } from '../run-cli';

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-predict-'));
const folder = join(directory, 'fruit');
const run = join(directory, 'run');
let classNames: string[];
let trained: { top1: number };

/** Bad input ends in one stderr line (after the backend's) naming the problem, with the exit code. */
async function expectOneLineError(code: number, pattern: RegExp, ...argv: string[]): Promise<void> {
  const result = await runCli(...argv);
  expect(result.code, result.stderr.join('\n')).toBe(code);
  expect(result.stderr.filter((line) => !line.startsWith('backend: '))).toHaveLength(1);
  expect(result.stderr.at(-1)).toMatch(pattern);
  expect(result.stdout).toEqual([]);
}

function logitsOf(path: string): { shape: number[]; rows: number[][] } {
  const { shape, data } = parseNpy(new Uint8Array(readFileSync(path)));
  const width = shape[1]!;
  return { shape: [...shape], rows: Array.from({ length: shape[0]! }, (_, row) => Array.from(data.subarray(row * width, (row + 1) * width) as Float32Array)) };
}

describe('visual-peft-bench predict with a tuned model', () => {
  beforeAll(async () => {
    classNames = await writeImageFolder(folder);
    const result = await runCli(
      'train', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'), '--dataset', 'image-folder', '--root', folder, '--eval-split', 'all',
      '--method', 'vpt-shallow', '--set', 'numPrompts=2', '--out', run, '--epochs', '2', '--batch-size', '4', '--lr', '0.1', '--backend', 'cpu',
    );
    expect(result.code, result.stderr.join('\n')).toBe(0);
    trained = JSON.parse(result.stdout[0]!);
  });

  it('classifies a folder through the run’s evaluation pipeline: top-k classes by name, the same predictions the run scored, a progress bar', async () => {
    const { code, stdout, stderr } = await runCli('predict', '--run', run, folder, '--top-k', '2', '--batch-size', '5', '--backend', 'cpu');
    expect(code, stderr.join('\n')).toBe(0);
    expect(stderr.filter((line) => line.startsWith('predict: '))).toEqual([
      'predict: [########............] 5/12 images',
      'predict: [#################...] 10/12 images',
      'predict: [####################] 12/12 images',
    ]);
    const lines = stdout.map((line) => JSON.parse(line) as { image: string; top: { class: string; index: number; probability: number }[] });
    expect(lines.map((line) => line.image)).toEqual(classNames.flatMap((name) => [0, 1, 2, 3].map((index) => join(folder, name, `${index}.png`))));
    for (const { top } of lines) {
      expect(top).toHaveLength(2);
      expect(top[0]!.class).toBe(classNames[top[0]!.index]);
      expect(top[0]!.probability).toBeGreaterThanOrEqual(top[1]!.probability);
    }
    // The run scored the same images (its evaluation split is the whole folder) through the trainer's evaluation.
    const correct = lines.filter((line) => line.image.includes(`/${line.top[0]!.class}/`)).length;
    expect(correct / lines.length).toBeCloseTo(trained.top1, 10);

    // The logits as .npy: softmax of each row gives the printed probabilities.
    const out = join(directory, 'logits', 'fruit.npy');
    const written = await runCli('predict', '--run', run, folder, '--out', out, '--backend', 'cpu');
    expect(written.stdout).toEqual([`wrote ${out}: float32 [12, 3]`]);
    const { rows } = logitsOf(out);
    rows.forEach((row, index) => {
      const exps = row.map((value) => Math.exp(value - Math.max(...row)));
      const total = exps.reduce((a, b) => a + b, 0);
      expect(exps[lines[index]!.top[0]!.index]! / total).toBeCloseTo(lines[index]!.top[0]!.probability, 6);
    });
  });

  it('takes files, globs and a .npy batch, and the tuned file with its backbone named gives the run’s logits', async () => {
    const glob = await runCli('predict', '--run', run, join(folder, 'b*', '*.png'), join(folder, 'apple', '0.png'), '--backend', 'cpu');
    expect(glob.code, glob.stderr.join('\n')).toBe(0);
    expect(glob.stdout.map((line) => JSON.parse(line).image)).toEqual([0, 1, 2, 3].map((index) => join(folder, 'banana', `${index}.png`)).concat(join(folder, 'apple', '0.png')));
    const deep = await runCli('predict', '--run', run, '--images', join(directory, '**', 'cherry', '?.png'), '--backend', 'cpu');
    expect(deep.stdout).toHaveLength(4);

    const fromRun = join(directory, 'from-run.npy');
    const fromFiles = join(directory, 'from-files.npy');
    await runCli('predict', '--run', run, folder, '--out', fromRun, '--backend', 'cpu');
    const files = await runCli(
      'predict', '--tuned', join(run, 'tuned.safetensors'), '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'), folder, '--out', fromFiles, '--backend', 'cpu',
    );
    expect(files.code, files.stderr.join('\n')).toBe(0);
    expect(logitsOf(fromFiles)).toEqual(logitsOf(fromRun));

    const batch = await runCli('predict', '--run', run, '--images', tinyVit('inputs.npy'), '--backend', 'cpu');
    expect(batch.code, batch.stderr.join('\n')).toBe(0);
    expect(batch.stdout.map((line) => JSON.parse(line).image)).toEqual([`${tinyVit('inputs.npy')}[0]`, `${tinyVit('inputs.npy')}[1]`]);
    expect(JSON.parse(batch.stdout[0]!).top.map((entry: { class: string }) => entry.class).sort()).toEqual(classNames);
  });

  it('refuses bad input with one line naming the file and what is wrong, writing nothing', async () => {
    const out = join(directory, 'never.npy');
    const empty = join(directory, 'empty-run');
    mkdirSync(empty);
    await expectOneLineError(1, new RegExp(`${empty}: has no tuned.safetensors: not a finished \`train\` output folder$`), 'predict', '--run', empty, folder, '--backend', 'cpu');
    await expectOneLineError(
      1,
      /model\.config\.imgSize must equal the imgSize of the backbone .*run\/tuned\.safetensors was tuned on \(\[32,32\]\), got \[224, 224\]$/,
      'predict', '--tuned', join(run, 'tuned.safetensors'), '--backbone', 'vit_tiny_patch16_224', folder, '--backend', 'cpu',
    );
    const broken = join(directory, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'a.png'), 'not an image');
    await expectOneLineError(1, /broken\/a\.png: cannot decode image: /, 'predict', '--run', run, folder, broken, '--out', out, '--backend', 'cpu');
    expect(existsSync(out)).toBe(false);
    await expectOneLineError(2, /--images .*absent\.png: no such file or folder$/, 'predict', '--run', run, join(directory, 'absent.png'), '--backend', 'cpu');
    await expectOneLineError(2, /--images .*\*\.gif: matches no image file/, 'predict', '--run', run, join(folder, '*.gif'), '--backend', 'cpu');
    await expectOneLineError(2, /--images .*empty-run: the folder holds no image file/, 'predict', '--run', run, empty, '--backend', 'cpu');
    await expectOneLineError(2, /predict: give --run <dir> or --tuned <file>, not both$/, 'predict', '--run', run, '--tuned', 'x.safetensors', folder);
    await expectOneLineError(2, /predict: name the images/, 'predict', '--run', run);
    await expectOneLineError(2, /--top-k must be an integer >= 1, got "0"/, 'predict', '--run', run, folder, '--top-k', '0');
    await expectOneLineError(2, /--pipeline must be one of vtab, fgvc-test, vtab-sct-test, got "fgvc-train"/, 'predict', '--run', run, folder, '--pipeline', 'fgvc-train');
    await expectOneLineError(2, /predict: images as operands need --run or --tuned/, 'predict', '--backbone', tinyVit('config.json'), folder);
  });
});

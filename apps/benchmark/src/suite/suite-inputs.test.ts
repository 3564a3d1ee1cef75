import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { describe, expect, it, vi } from 'vitest';
import { tinyVit } from '../commands/__fixtures__/suite-run';
import { runCli } from '../run-cli';

// A real release check: every checkpoint the app reads goes through this wrapper, which keeps only a
// weak reference to what it returned and, before each read, collects garbage and looks which are left.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

interface Read {
  readonly file: string;
  readonly state: WeakRef<object>;
  /** The earlier reads whose state dicts were still reachable when this one began. */
  readonly heldBefore: string[];
}
const reads: Read[] = [];
/** Called after each read, with the file's name. */
let afterRead: (file: string) => void = () => {};
const alive = () => reads.filter((read) => read.state.deref() !== undefined).map((read) => read.file);

vi.mock('@visual-peft/vit-core', async (importOriginal) => {
  const original = await importOriginal<typeof import('@visual-peft/vit-core')>();
  return {
    ...original,
    readCheckpoint: async (path: string): ReturnType<typeof original.readCheckpoint> => {
      // A later task than the last read, so no weak reference is kept alive for its own task.
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      const heldBefore = alive();
      const file = await original.readCheckpoint(path);
      reads.push({ file: basename(path), state: new WeakRef(file.stateDict), heldBefore });
      afterRead(basename(path));
      return file;
    },
  };
});

describe('run holds one backbone checkpoint at a time', () => {
  /** A suite of one job on each of three backbones, the tiny ViT under three names; returns run's arguments. */
  async function threeBackbones(): Promise<{ args: string[]; out: string; weights: string }> {
    const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-suite-inputs-'));
    const data = join(directory, 'vtab-1k');
    await writeSyntheticDataset('vtab-eurosat', data, { count: 4 });
    mkdirSync(join(directory, 'weights'));
    for (const name of ['first', 'second', 'third']) cpSync(tinyVit('tiny-vit.safetensors'), join(directory, 'weights', `${name}.safetensors`));
    const config = JSON.stringify(tinyVit('config.json'));
    const suite = join(directory, 'three-backbones.yaml');
    writeFileSync(
      suite,
      ['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [linear]', 'seeds: [42]', 'epochs: 1', 'batchSize: 4', 'grid: { learningRates: [0.05], weightDecays: [0] }', 'backbones:']
        .concat(['first', 'second', 'third'].map((name) => `  - { name: ${name}, config: ${config}, weights: weights/${name}.safetensors }`))
        .join('\n'),
    );
    const out = join(directory, 'out');
    return { args: ['run', '--suite', suite, '--data', data, '--out', out, '--backend', 'cpu'], out, weights: join(directory, 'weights') };
  }

  it('checks each checkpoint and releases it before reading the next, and each job reads its own again', async () => {
    reads.length = 0;
    const { args, out } = await threeBackbones();
    const result = await runCli(...args);
    expect(result.code, result.stderr.join('\n')).toBe(0);
    expect(JSON.parse(result.stdout.at(-1)!)).toMatchObject({ jobs: 3, ran: 3 });
    // The checks read the three in order, then each job its own.
    expect(reads.map((read) => read.file)).toEqual(['first', 'second', 'third', 'first', 'second', 'third'].map((name) => `${name}.safetensors`));
    // Whenever a checkpoint was read, no earlier one was still held.
    expect(reads.map((read) => read.heldBefore)).toEqual(reads.map(() => []));
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(alive()).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, 'suite.json'), 'utf8')).suite.backbones.map((backbone: { sha256: string }) => backbone.sha256)).toEqual(Array(3).fill(expect.stringMatching(/^[0-9a-f]{64}$/)));
  });

  it('refuses a checkpoint whose bytes changed after the checks when its first job reads it again', async () => {
    reads.length = 0;
    const { args, out, weights } = await threeBackbones();
    const second = join(weights, 'second.safetensors');
    afterRead = (file) => {
      // After the checks (the third read), the second checkpoint is replaced.
      if (file === 'third.safetensors' && reads.length === 3) appendFileSync(second, Buffer.from([0]));
    };
    const result = await runCli(...args);
    afterRead = () => {};
    expect(result.code).toBe(1);
    expect(result.stderr.at(-1)).toMatch(new RegExp(`^visual-peft-bench: ${second}: changed since the checks before the first job \\(SHA-256 [0-9a-f]{64} then, [0-9a-f]{64} now\\); run the command again to check it anew$`));
    expect(JSON.parse(readFileSync(join(out, 'suite.json'), 'utf8')).suite.backbones).toHaveLength(3);
    expect(reads.map((read) => read.file)).toEqual(['first', 'second', 'third', 'first'].map((name) => `${name}.safetensors`));
  });
});

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawPixels } from '@visual-peft/datasets';
import { FASHION_MNIST_FILES, loadFashionMnist } from '@visual-peft/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';
import { writeSyntheticFashionMnist } from './__fixtures__/synthetic-fashion-mnist';
import { loadDemoTask } from './demo-tasks';
import { makeDemoData } from './make-demo-data';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-demo-data-'));
const source = join(directory, 'full');
const COUNTS = { pretrainTrain: 4, pretrainTest: 2, unseenTrain: 3, unseenTest: 2 };

beforeAll(() => writeSyntheticFashionMnist(source, { train: [20, 210], test: [5, 30] }));

describe('makeDemoData', () => {
  it('draws the asked number per class, copies the images exactly and writes gzipped IDX under the release names', async () => {
    const out = join(directory, 'subset');
    const summary = await makeDemoData(source, out, 0, COUNTS);
    expect(summary).toMatchObject({ seed: 0, train: 5 * 4 + 5 * 3, test: 5 * 2 + 5 * 2 });
    for (const [split, pretrain, unseen] of [['train', 4, 3], ['test', 2, 2]] as const) {
      expect(readFileSync(join(out, `${FASHION_MNIST_FILES[split].images}.gz`)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      const drawn = await loadFashionMnist(out, split);
      const full = await loadFashionMnist(source, split);
      for (let label = 0; label < 10; label++) expect(drawn.examples.filter((example) => example.label === label)).toHaveLength(label < 5 ? pretrain : unseen);
      // Every drawn image is one of the source's images with the same label, none twice.
      const byPixels = new Map(full.examples.map((example) => [Buffer.from((example.image as RawPixels).data).toString('hex'), example.label]));
      const seen = new Set<string>();
      for (const example of drawn.examples) {
        const key = Buffer.from((example.image as RawPixels).data).toString('hex');
        expect(byPixels.get(key)).toBe(example.label);
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
    }
  });

  it('is deterministic: the same seed writes the same bytes, another seed another draw', async () => {
    const files = (dir: string) => Object.values(FASHION_MNIST_FILES).flatMap((split) => [split.images, split.labels]).map((stem) => readFileSync(join(dir, `${stem}.gz`)));
    await makeDemoData(source, join(directory, 'a'), 3, COUNTS);
    await makeDemoData(source, join(directory, 'b'), 3, COUNTS);
    await makeDemoData(source, join(directory, 'c'), 4, COUNTS);
    expect(files(join(directory, 'b'))).toEqual(files(join(directory, 'a')));
    expect(files(join(directory, 'c'))[0]).not.toEqual(files(join(directory, 'a'))[0]);
  });

  it('refuses a source with too few images of a class, naming it', async () => {
    await expect(makeDemoData(source, join(directory, 'short'), 0, { ...COUNTS, pretrainTrain: 21 })).rejects.toThrow(
      /train images of class 0 must be at least the 21 the demo subset draws, got 20/,
    );
  });
});

describe('demo tasks from another Fashion-MNIST directory', () => {
  it('draws from the directory given instead of the committed subset', async () => {
    const splits = await loadDemoTask('fmnist-unseen', { root: source, testSize: 100 });
    expect([splits.train800.examples.length, splits.val200.examples.length, splits.test.examples.length]).toEqual([800, 200, 100]);
    expect(splits.train800.examples[0]!.origin.file).toBe(join(source, FASHION_MNIST_FILES.train.images));
  });
});

describe('visual-peft-bench demo-data', () => {
  it('writes the subset and prints what it wrote', async () => {
    const out = join(directory, 'cli');
    const { code, stdout, stderr } = await runCli('demo-data', '--from', source, '--out', out, '--seed', '2');
    // The default counts need more images than this stand-in has: the error names the class and the numbers.
    expect(code).toBe(1);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual(['visual-peft-bench: train images of class 0 must be at least the 1000 the demo subset draws, got 20']);
    const bad = await runCli('demo-data', '--from', source, '--seed=-1');
    expect(bad).toMatchObject({ code: 2, stderr: ['visual-peft-bench: --seed must be an integer >= 0, got "-1"'] });
  });
});

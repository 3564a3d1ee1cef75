import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_FILES, loadFashionMnist } from './fashion-mnist';
import { parseIdx, serializeIdx } from './idx';
import { writeSyntheticDataset } from './synthetic-dataset';
import { buildVtab1kSplits } from './vtab-1k-splits';

const base = mkdtempSync(join(tmpdir(), 'datasets-fmnist-'));

describe('IDX', () => {
  it('round-trips, plain and gzip', () => {
    const data = Uint8Array.from({ length: 24 }, (_, i) => i * 3);
    const bytes = serializeIdx([2, 3, 4], data);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 8, 3, 0, 0, 0, 2]);
    expect(parseIdx(bytes, 'x')).toEqual({ dims: [2, 3, 4], data });
  });

  it('refuses wrong magic, types and lengths, naming the file', () => {
    expect(() => parseIdx(Uint8Array.from([1, 0, 8, 1]), 'a.idx')).toThrow('a.idx: not an IDX file');
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 0]), 'b.idx')).toThrow(/b\.idx: IDX element type 0x0d is not supported/);
    expect(() => parseIdx(serializeIdx([5], new Uint8Array(5)).subarray(0, 11), 'c.idx')).toThrow('c.idx: IDX header [5] needs 5 data bytes, the file has 3');
    expect(() => parseIdx(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), 'd.gz')).toThrow(/d\.gz: corrupt gzip data/);
  });
});

describe('Fashion-MNIST', () => {
  for (const gzip of [true, false]) {
    it(`loads ${gzip ? '.gz' : 'plain'} IDX files as 28x28 grayscale examples`, async () => {
      const root = join(base, gzip ? 'gz' : 'plain');
      await writeSyntheticDataset('fashion-mnist', root, { count: 12, gzip });
      const train = await loadFashionMnist(root, 'train');
      expect(train).toMatchObject({ dataset: 'fashion-mnist', split: 'train', numClasses: 10 });
      expect(train.examples.map((example) => example.label)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
      const raw = readFileSync(join(root, FASHION_MNIST_FILES.train.images + (gzip ? '.gz' : '')));
      const pixels = (gzip ? gunzipSync(raw) : raw).subarray(16);
      const third = train.examples[2]!;
      expect(third.image).toEqual({ data: new Uint8Array(pixels.subarray(2 * 784, 3 * 784)), width: 28, height: 28, channels: 1 });
      expect(third.origin.record).toBe(2);
      expect((await loadFashionMnist(root, 'test')).examples).toHaveLength(12);
    });
  }

  it('names the file of a missing, truncated or mislabelled split', async () => {
    const root = join(base, 'bad');
    await writeSyntheticDataset('fashion-mnist', root, { count: 3, gzip: false });
    const labels = join(root, FASHION_MNIST_FILES.test.labels);
    writeFileSync(labels, serializeIdx([3], Uint8Array.from([1, 10, 2])));
    await expect(loadFashionMnist(root, 'test')).rejects.toThrow(`${labels}: label 10 of record 1 is outside 0..9`);
    writeFileSync(labels, serializeIdx([2], Uint8Array.from([1, 2])));
    await expect(loadFashionMnist(root, 'test')).rejects.toThrow(/expected 3 labels \(one per image in .*t10k-images-idx3-ubyte\), got \[2\]/);
    writeFileSync(labels, serializeIdx([3], Uint8Array.from([1, 2, 3])).subarray(0, 10));
    await expect(loadFashionMnist(root, 'test')).rejects.toThrow(`${labels}: IDX header [3] needs 3 data bytes, the file has 2`);
    await expect(loadFashionMnist(join(base, 'none'), 'train')).rejects.toThrow(/none\/train-images-idx3-ubyte\(\.gz\): missing IDX file/);
    await expect(loadFashionMnist(root, 'val' as 'test')).rejects.toThrow(ConfigError);
  });

  it.skipIf(!existsSync(DEBIAN_FASHION_MNIST_DIR))('reads the real release from Debian\'s dataset-fashion-mnist', async () => {
    const [train, test] = await Promise.all([loadFashionMnist(DEBIAN_FASHION_MNIST_DIR, 'train'), loadFashionMnist(DEBIAN_FASHION_MNIST_DIR, 'test')]);
    expect(train.examples).toHaveLength(60_000);
    expect(test.examples).toHaveLength(10_000);
    // Both sets are balanced: 6,000 and 1,000 per class; the first image of each is an ankle boot.
    const perClass = (examples: typeof train.examples) => examples.reduce((counts, example) => (counts[example.label]!++, counts), new Array<number>(10).fill(0));
    expect(perClass(train.examples)).toEqual(new Array(10).fill(6000));
    expect(perClass(test.examples)).toEqual(new Array(10).fill(1000));
    expect(train.examples[0]!.label).toBe(9);
    expect(train.classNames![9]).toBe('Ankle boot');
  });
});

describe('buildVtab1kSplits', () => {
  const ready = (async () => {
    const root = join(base, 'vtab1k');
    await writeSyntheticDataset('fashion-mnist', root, { count: 100 });
    return { train: await loadFashionMnist(root, 'train'), test: await loadFashionMnist(root, 'test') };
  })();

  it('draws disjoint train and val sets from the training set, seeded; test is the test set', async () => {
    const { train, test } = await ready;
    const splits = buildVtab1kSplits(train, test, { seed: 1, trainSize: 40, valSize: 20 });
    expect(splits.train800.examples).toHaveLength(40);
    expect(splits.val200.examples).toHaveLength(20);
    expect(splits.train800val200.examples).toEqual([...splits.train800.examples, ...splits.val200.examples]);
    expect(splits.test.examples).toBe(test.examples);
    const records = (split: typeof train) => split.examples.map((example) => example.origin.record!);
    expect(new Set([...records(splits.train800), ...records(splits.val200)]).size).toBe(60);
    expect(records(buildVtab1kSplits(train, test, { seed: 1, trainSize: 40, valSize: 20 }).train800)).toEqual(records(splits.train800));
    expect(records(buildVtab1kSplits(train, test, { seed: 2, trainSize: 40, valSize: 20 }).train800)).not.toEqual(records(splits.train800));
  });

  it('balances classes on request', async () => {
    const { train, test } = await ready;
    const splits = buildVtab1kSplits(train, test, { sampling: 'balanced', trainSize: 40, valSize: 20 });
    const counts = (split: typeof train) => split.examples.reduce((all, example) => (all[example.label]!++, all), new Array<number>(10).fill(0));
    expect(counts(splits.train800)).toEqual(new Array(10).fill(4));
    expect(counts(splits.val200)).toEqual(new Array(10).fill(2));
  });

  it('names the field of a bad setting', async () => {
    const { train, test } = await ready;
    expect(() => buildVtab1kSplits(train, test)).toThrow(/trainSize \+ valSize must not exceed the 100 training examples, got 1000/);
    expect(() => buildVtab1kSplits(train, test, { sampling: 'balanced', trainSize: 45, valSize: 20 })).toThrow(/trainSize must be a multiple of the class count \(10\)/);
    expect(() => buildVtab1kSplits(train, test, { sampling: 'balanced', trainSize: 80, valSize: 30 })).toThrow(/needs 11 examples of class 0, the training set has 10/);
    expect(() => buildVtab1kSplits(train, test, { seed: -1 })).toThrow(/seed must be an integer >= 0, got -1/);
    expect(() => buildVtab1kSplits(train, test, { sampling: 'stratified' as 'random' })).toThrow(/sampling must be one of random, balanced/);
    expect(() => buildVtab1kSplits(train, test, { valSize: 0 })).toThrow(/valSize must be an integer >= 1, got 0/);
  });
});

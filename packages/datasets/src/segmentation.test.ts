import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { ADE20K_SPLITS, loadAde20k } from './ade20k';
import { CorruptImageError, DatasetError } from './dataset-error';
import type { LabelMap } from './label-map';
import { decodeLabelMap, resizeLabelMap } from './label-map';
import { SeededRandom } from '@visual-peft/vit-core';
import { categoryRatioCrop, createSegmentationSource, loadSegmentationSample, rescaleSize } from './segmentation-source';
import { writeSyntheticDataset } from './synthetic-dataset';

const base = mkdtempSync(join(tmpdir(), 'datasets-ade-'));
const ade = { numClasses: 150, ignoreIndex: 255 };

async function writeAnnotation(path: string, width: number, height: number, values: (x: number, y: number) => number): Promise<string> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = values(x, y);
  await sharp(data, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(path);
  return path;
}

describe('ADE20K loader', () => {
  it('pairs images with annotations by name in both splits', async () => {
    const root = join(base, 'ok');
    const synthetic = await writeSyntheticDataset('ade20k', root, { count: 3 });
    for (const split of ADE20K_SPLITS) {
      const loaded = await loadAde20k(root, split);
      expect(loaded).toMatchObject({ dataset: 'ade20k', split, numClasses: 150, ignoreIndex: 255 });
      expect(loaded.examples).toHaveLength(3);
    }
    const training = await loadAde20k(root, 'training');
    expect(training.examples.map((example) => [example.image, example.annotation])).toEqual(
      synthetic.images.slice(0, 3).map((image, i) => [image, synthetic.annotations[i]]),
    );
  });

  it('names a missing annotation, a missing folder and a bad split', async () => {
    const root = join(base, 'missing');
    const synthetic = await writeSyntheticDataset('ade20k', root, { count: 2 });
    rmSync(synthetic.annotations[1]!);
    await expect(loadAde20k(root, 'training')).rejects.toThrow(new DatasetError(synthetic.annotations[1]!, `missing annotation of image ${synthetic.images[1]}`));
    await expect(loadAde20k(join(base, 'nothing'), 'validation')).rejects.toThrow(/nothing\/images\/validation: missing folder/);
    await expect(loadAde20k(root, 'train' as 'training')).rejects.toThrow(ConfigError);
  });
});

describe('annotations', () => {
  it('reduces the zero label: 0 and 255 become 255, others drop by one', async () => {
    const path = await writeAnnotation(join(base, 'values.png'), 5, 1, (x) => [0, 1, 150, 255, 7][x]!);
    const labels = await decodeLabelMap(path, { ...ade, reduceZeroLabel: true });
    expect(Array.from(labels.data)).toEqual([255, 0, 149, 255, 6]);
  });

  it('names the file and pixel of a value that is no class', async () => {
    const path = await writeAnnotation(join(base, 'bad-value.png'), 4, 3, (x, y) => (x === 2 && y === 1 ? 151 : 3));
    await expect(decodeLabelMap(path, { ...ade, reduceZeroLabel: true })).rejects.toThrow(`${path}: value 151 at (x 2, y 1) is not a class (1..150, 0 = ignore)`);
  });

  it('names both files when the annotation size differs from the image', async () => {
    const path = await writeAnnotation(join(base, 'small.png'), 4, 3, () => 1);
    await expect(decodeLabelMap(path, { ...ade, reduceZeroLabel: true, expectedSize: [5, 3], image: 'ADE_1.jpg' })).rejects.toThrow(
      `${path}: annotation is 4x3 but its image ADE_1.jpg is 5x3`,
    );
  });

  it('refuses colour annotations and truncated files', async () => {
    const colour = join(base, 'colour.png');
    await sharp(Buffer.alloc(12, 9), { raw: { width: 2, height: 2, channels: 3 } }).png().toFile(colour);
    await expect(decodeLabelMap(colour, { ...ade, reduceZeroLabel: true })).rejects.toThrow(/annotation must be 8-bit single-channel .* got 3 channel\(s\) of uchar/);
    const whole = await writeAnnotation(join(base, 'whole.png'), 30, 30, (x, y) => (x * y) % 150);
    const truncated = join(base, 'truncated.png');
    writeFileSync(truncated, readFileSync(whole).subarray(0, 60));
    await expect(decodeLabelMap(truncated, { ...ade, reduceZeroLabel: true })).rejects.toThrow(CorruptImageError);
  });

  it('resizes labels by nearest neighbour, never inventing a class', () => {
    const labels: LabelMap = { width: 2, height: 2, data: Uint8Array.from([1, 2, 3, 4]) };
    expect(Array.from(resizeLabelMap(labels, 4, 2).data)).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
    expect(Array.from(resizeLabelMap(labels, 1, 1).data)).toEqual([1]);
  });
});

describe('mmseg geometry', () => {
  it('rescales to fit [2048, 512] keeping the ratio (mmcv rescale_size)', () => {
    expect(rescaleSize(683, 512, [2048, 512])).toEqual([683, 512]);
    expect(rescaleSize(400, 300, [2048, 512])).toEqual([683, 512]);
    expect(rescaleSize(3000, 500, [2048, 512])).toEqual([2048, 341]);
    expect(rescaleSize(400, 300, [1024, 256])).toEqual([341, 256]);
  });

  it('redraws a crop that one class dominates (cat_max_ratio 0.75): the first passing of 11 draws', () => {
    // Class 1 everywhere but columns 16..19 of class 2: a 4-wide crop passes only at left 14 (half
    // and half); left 13 and 15 give one class exactly 75%, which is not under the ratio.
    const labels: LabelMap = { width: 20, height: 4, data: Uint8Array.from({ length: 80 }, (_, i) => (i % 20 >= 16 ? 2 : 1)) };
    let passed = 0;
    for (let seed = 0; seed < 40; seed++) {
      const replay = new SeededRandom(seed);
      const draws = Array.from({ length: 11 }, () => ({ top: replay.integer(0, 0), left: replay.integer(0, 16) }));
      const expected = draws.find((draw) => draw.left === 14) ?? draws[10]!;
      const box = categoryRatioCrop(labels, 4, 0.75, 255, new SeededRandom(seed));
      expect(box).toEqual({ ...expected, width: 4, height: 4 });
      if (box.left === 14) passed++;
    }
    // 1 of 17 positions passes: P(none in 11 draws) = (16/17)^11, about 0.51.
    expect(passed).toBeGreaterThan(10);
    expect(passed).toBeLessThan(35);
    // cat_max_ratio 1 turns the rule off: the first draw stays.
    const first = new SeededRandom(0);
    const top = first.integer(0, 0);
    expect(categoryRatioCrop(labels, 4, 1, 255, new SeededRandom(0))).toEqual({ top, left: first.integer(0, 16), width: 4, height: 4 });
  });

  it('keeps the 11th draw when no crop can pass, and takes short sides whole', () => {
    const ignored: LabelMap = { width: 9, height: 3, data: new Uint8Array(27).fill(255) };
    const box = categoryRatioCrop(ignored, 4, 0.75, 255, new SeededRandom(4));
    const replay = new SeededRandom(4);
    let expected = { top: 0, left: 0 };
    for (let draw = 0; draw < 11; draw++) expected = { top: replay.integer(0, 0), left: replay.integer(0, 5) };
    expect(box).toEqual({ ...expected, width: 4, height: 3 });
  });
});

describe('createSegmentationSource', () => {
  const small = { cropSize: 16, baseScale: [64, 16] as const };

  it('yields crops with labels aligned to the image, padded with ignore', async () => {
    const root = join(base, 'source');
    await writeSyntheticDataset('ade20k', root, { count: 3, width: 40, height: 30 });
    const split = await loadAde20k(root, 'training');
    const source = createSegmentationSource(split, { batchSize: 2, shuffle: true, seed: 3, pipeline: small });
    const batches = [];
    for await (const batch of source(0)) batches.push(batch);
    expect(batches.map((batch) => batch.shape)).toEqual([[2, 3, 16, 16], [1, 3, 16, 16]]);
    expect(batches[0]!.labelShape).toEqual([2, 16, 16]);
    for (const batch of batches) expect(batch.labels.every((label) => (label >= 0 && label < 150) || label === 255)).toBe(true);
    // Scale 0.5 of [64, 16] is 8 < 16: the crop is smaller than 16 and padded.
    const tiny = createSegmentationSource(split, { batchSize: 1, pipeline: { ...small, ratioRange: [0.5, 0.5], photometric: null } });
    const [padded] = await (async () => { const all = []; for await (const batch of tiny(0)) all.push(batch); return all; })();
    expect(padded!.labels[15 * 16 + 15]).toBe(255);
    expect(padded!.images[15 * 16 + 15]).toBe(0);
    expect(padded!.labels[0]).not.toBe(255);
  });

  it('starts an epoch at any batch with exactly the batches a full pass yields there', async () => {
    const root = join(base, 'start');
    await writeSyntheticDataset('ade20k', root, { count: 5, width: 40, height: 30 });
    const source = createSegmentationSource(await loadAde20k(root, 'training'), { batchSize: 2, shuffle: true, dropLast: true, seed: 4, pipeline: small });
    expect(source.batchesPerEpoch).toBe(2);
    const collect = async (epoch: number, start?: number) => {
      const all = [];
      for await (const batch of source(epoch, start)) all.push(batch);
      return all;
    };
    const full = await collect(1);
    expect(full).toHaveLength(2);
    expect(await collect(1, 1)).toEqual(full.slice(1));
    expect(await collect(1, 2)).toEqual([]);
    expect(() => source(0, -1)).toThrow(/^startBatch must be an integer >= 0, got -1$/);
  });

  it('moves image and labels together: a flip mirrors both', async () => {
    const root = join(base, 'flip');
    const synthetic = await writeSyntheticDataset('ade20k', root, { count: 1, width: 16, height: 16 });
    await writeAnnotation(synthetic.annotations[0]!, 16, 16, (x) => x + 1);
    const [example] = (await loadAde20k(root, 'training')).examples;
    const fixed = { mode: 'train', cropSize: 16, baseScale: [16, 16], ratioRange: [1, 1], catMaxRatio: 1, photometric: null } as const;
    const kept = await loadSegmentationSample(example!, ade, { ...fixed, flipProbability: 0 }, new SeededRandom(0));
    const flipped = await loadSegmentationSample(example!, ade, { ...fixed, flipProbability: 1 }, new SeededRandom(0));
    expect(Array.from(kept.labels.data.subarray(0, 16))).toEqual(Array.from({ length: 16 }, (_, x) => x));
    expect(Array.from(flipped.labels.data.subarray(0, 16))).toEqual(Array.from({ length: 16 }, (_, x) => 15 - x));
    expect(flipped.image.data[0]).toBe(kept.image.data[15]);
  });

  it('evaluates at the resized image size with labels at full size', async () => {
    const root = join(base, 'eval');
    await writeSyntheticDataset('ade20k', root, { count: 2, width: 40, height: 30 });
    const split = await loadAde20k(root, 'validation');
    const source = createSegmentationSource(split, { batchSize: 1, pipeline: { mode: 'eval', baseScale: [64, 16] } });
    for await (const batch of source(0)) {
      expect(batch.shape).toEqual([1, 3, 16, 21]);
      expect(batch.labelShape).toEqual([1, 30, 40]);
    }
  });

  it('fails on an annotation whose size differs from its image, naming both', async () => {
    const root = join(base, 'mismatch');
    const synthetic = await writeSyntheticDataset('ade20k', root, { count: 1 });
    await writeAnnotation(synthetic.annotations[0]!, 10, 10, () => 1);
    const source = createSegmentationSource(await loadAde20k(root, 'training'), { batchSize: 1, pipeline: small });
    await expect((async () => { for await (const _ of source(0)) void _; })()).rejects.toThrow(
      `${synthetic.annotations[0]}: annotation is 10x10 but its image ${synthetic.images[0]} is 40x30`,
    );
  });

  it('names the field of a bad pipeline setting', async () => {
    const split = { dataset: 'ade20k', split: 'training', numClasses: 150, ignoreIndex: 255, examples: [] };
    expect(() => createSegmentationSource(split, { batchSize: 1, pipeline: { cropSize: 0 } })).toThrow(/pipeline\.cropSize must be an integer >= 1, got 0/);
    expect(() => createSegmentationSource(split, { batchSize: 1, pipeline: { ratioRange: [2, 0.5] } })).toThrow(/pipeline\.ratioRange must be \[low, high\]/);
    expect(() => createSegmentationSource(split, { batchSize: 1, pipeline: { catMaxRatio: 0 } })).toThrow(/pipeline\.catMaxRatio must be in \(0, 1\]/);
    expect(() => createSegmentationSource(split, { batchSize: 1, pipeline: { flipProbability: -1 } })).toThrow(/^pipeline\.flipProbability must be a finite number in \[0, 1\], got -1$/);
    expect(() => createSegmentationSource(split, { batchSize: 1, pipeline: { mode: 'eval', baseScale: [0, 1] } })).toThrow(/pipeline\.baseScale must be \[long, short\]/);
    expect(() => createSegmentationSource(split, { batchSize: 0 })).toThrow(/batchSize must be an integer >= 1, got 0/);
  });
});

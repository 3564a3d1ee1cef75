import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageBatch } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { createBatchSource } from './batch-source';
import type { ClassificationSplit } from './classification-split';
import { CorruptImageError } from './dataset-error';
import { createImagePipeline, pipelinePreset } from './image-pipeline';
import { loadImageFolder } from './image-folder';
import { decodeImage } from './decode-image';
import { writeSyntheticDataset } from './synthetic-dataset';
import type { ImageStep } from './transforms';
import { randomCrop } from './transforms';
import { loadVtab } from './vtab';

const base = mkdtempSync(join(tmpdir(), 'datasets-batches-'));

async function collect(iterable: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const batches: ImageBatch[] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

/** 10 classes of one 12x8 PNG each: a label names its example. */
const folder = (async () => {
  await writeSyntheticDataset('image-folder', join(base, 'folder'), { classes: 10, width: 12, height: 8 });
  return loadImageFolder(join(base, 'folder'));
})();
const plain = createImagePipeline({ resize: null, outputSize: [8, 12] });

describe('createBatchSource', () => {
  it('gives NCHW float32 batches normalised as ToTensor + Normalize, with int32 labels', async () => {
    const split = await folder;
    const batches = await collect(createBatchSource(split, { batchSize: 4, pipeline: plain })(0));
    expect(batches.map((batch) => batch.shape)).toEqual([[4, 3, 8, 12], [4, 3, 8, 12], [2, 3, 8, 12]]);
    expect(Array.from(batches[0]!.labels)).toEqual([0, 1, 2, 3]);
    expect(batches[0]!.labels).toBeInstanceOf(Int32Array);
    const decoded = await decodeImage(split.examples[1]!.image, null, split.examples[1]!.origin);
    const image = batches[0]!.images.subarray(3 * 96, 6 * 96);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 96; i += 7) {
        const expected = (decoded.data[c * 96 + i]! / 255 - [0.485, 0.456, 0.406][c]!) / [0.229, 0.224, 0.225][c]!;
        expect(image[c * 96 + i]).toBeCloseTo(expected, 5);
      }
    }
  });

  it('shuffles every epoch from the seed, each example once, and can drop the last batch', async () => {
    const split = await folder;
    const order = async (epoch: number, seed = 7) =>
      (await collect(createBatchSource(split, { batchSize: 3, pipeline: plain, shuffle: true, seed })(epoch))).flatMap((batch) => Array.from(batch.labels));
    const first = await order(0);
    expect([...first].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await order(0)).toEqual(first);
    expect(await order(1)).not.toEqual(first);
    expect(await order(0, 8)).not.toEqual(first);
    const source = createBatchSource(split, { batchSize: 3, pipeline: plain, dropLast: true });
    expect(source.batchesPerEpoch).toBe(3);
    expect((await collect(source(0))).map((batch) => batch.shape[0])).toEqual([3, 3, 3]);
  });

  it('augments from (seed, epoch, example), whatever the prefetch and concurrency', async () => {
    await writeSyntheticDataset('vtab-eurosat', join(base, 'vtab'), { count: 6, width: 40, height: 30 });
    const split = await loadVtab('eurosat', join(base, 'vtab'), 'train800');
    const pipeline = createImagePipeline({ resize: { mode: 'shorter', size: 20, interpolation: 'bilinear' }, steps: [randomCrop(16)], outputSize: [16, 16] });
    const run = (prefetch: number, concurrency: number, epoch = 0) =>
      collect(createBatchSource(split, { batchSize: 2, pipeline, shuffle: true, seed: 1, prefetch, concurrency })(epoch));
    const reference = await run(1, 1);
    expect(await run(3, 4)).toEqual(reference);
    expect((await run(1, 1, 1))[0]!.images).not.toEqual(reference[0]!.images);
  });

  it('decodes ahead of the consumer, boundedly, and stops when the consumer leaves', async () => {
    const split = await folder;
    let decoded = 0;
    const counting: ImageStep = (image) => {
      decoded++;
      return image;
    };
    const pipeline = createImagePipeline({ resize: null, steps: [counting], outputSize: [8, 12] });
    const source = createBatchSource({ ...split, examples: [...split.examples, ...split.examples] }, { batchSize: 2, pipeline, prefetch: 2, concurrency: 2 });
    const iterator = source(0)[Symbol.asyncIterator]();
    await iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The held batch plus two ahead: 6 of 20 images, no more, however long the consumer takes.
    expect(decoded).toBe(6);
    await iterator.return!();
    const after = decoded;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(decoded).toBe(after);
  });

  describe('corrupt images', () => {
    const broken = (async () => {
      const root = join(base, 'corrupt');
      const synthetic = await writeSyntheticDataset('vtab-svhn', root, { count: 5 });
      const victim = synthetic.images[1]!;
      writeFileSync(victim, readFileSync(victim).subarray(0, 100));
      return { split: await loadVtab('svhn', root, 'train800'), victim, file: synthetic.splitFiles.train800! };
    })();

    it('stop the epoch with an error naming the image, the split file and the line', async () => {
      const { split, victim, file } = await broken;
      const error = await collect(createBatchSource(split, { batchSize: 2, pipeline: pipelinePreset('vtab', { imageSize: 16 }) })(0)).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CorruptImageError);
      expect((error as Error).message).toMatch(new RegExp(`^${file}:2: cannot decode image ${victim}: `));
    });

    it('are skipped and reported once with skipCorrupt', async () => {
      const { split, victim } = await broken;
      const seen: string[] = [];
      const source = createBatchSource(split as ClassificationSplit, {
        batchSize: 2,
        pipeline: pipelinePreset('vtab', { imageSize: 16 }),
        skipCorrupt: true,
        onSkip: (error) => seen.push(error.image),
      });
      for (const epoch of [0, 1]) {
        const batches = await collect(source(epoch));
        expect(batches.map((batch) => Array.from(batch.labels))).toEqual([[0], [2, 3], [4]]);
        expect(batches[0]!.images).toHaveLength(3 * 16 * 16);
      }
      expect(source.skipped.map((error) => error.image)).toEqual([victim]);
      expect(seen).toEqual([victim]);
    });
  });

  it('names the field of a bad setting', async () => {
    const split = await folder;
    expect(() => createBatchSource(split, { batchSize: 0, pipeline: plain })).toThrow(/^batchSize must be an integer >= 1, got 0$/);
    expect(() => createBatchSource(split, { batchSize: 2, prefetch: 0, pipeline: plain })).toThrow(/prefetch must be an integer >= 1/);
    expect(() => createBatchSource(split, { batchSize: 2, concurrency: 1.5, pipeline: plain })).toThrow(/concurrency must be an integer >= 1, got 1\.5/);
    expect(() => createBatchSource(split, { batchSize: 2, seed: -3, pipeline: plain })).toThrow(/seed must be an integer >= 0, got -3/);
    expect(() => createBatchSource(split, { batchSize: 2, pipeline: plain })(-1)).toThrow(/epoch must be an integer >= 0, got -1/);
  });
});

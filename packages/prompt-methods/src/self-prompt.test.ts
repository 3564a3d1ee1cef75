import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, ImageBatch, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { tinyModel } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kMeans } from './kmeans';
import { poolBatchTokens } from './pool-windows';
import { createVpt } from './prompt-tuning';
import { selfPromptInit } from './self-prompt';

const DIM = 32;
const PATCHES = 16;
const IMAGE = 3 * 32 * 32;

/** `batches` batches of `size` deterministic 32x32 images; image i of the pass is the same whatever the batching. */
function source(batches: number, size: number): BatchSource {
  return async function* () {
    for (let batch = 0; batch < batches; batch++) {
      const images = Float32Array.from({ length: size * IMAGE }, (_, i) => {
        const image = batch * size + Math.floor(i / IMAGE);
        return Math.sin(0.013 * (i % IMAGE) * (image + 1)) + 0.1 * image;
      });
      yield { images, labels: new Int32Array(size), shape: [size, 3, 32, 32] } satisfies ImageBatch;
    }
  };
}

/** All images of a source as one tensor. */
async function allImages(from: BatchSource): Promise<tf.Tensor4D> {
  const parts: Float32Array[] = [];
  for await (const batch of from(0)) parts.push(batch.images);
  const flat = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  parts.reduce((offset, part) => (flat.set(part, offset), offset + part.length), 0);
  return tf.tensor4d(flat, [flat.length / IMAGE, 3, 32, 32]);
}

/** Rows of a [rows, DIM] host array as strings, for set comparisons. */
const rowsOf = (values: Float32Array | number[]) => Array.from({ length: values.length / DIM }, (_, r) => Array.from(values.slice(r * DIM, (r + 1) * DIM)).join(','));

let model: VisionTransformer;
let tensorsBefore: number;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  model = tinyModel();
});
afterEach(() => {
  model.dispose();
  expect(tf.memory().numTensors, 'tensors left').toBe(tensorsBefore);
});

describe('selfPromptInit', () => {
  it('random-token, shallow: P tokens of one batch’s patch embedding (no position embedding, no CLS)', async () => {
    const data = source(2, 3);
    const result = await selfPromptInit(model, data, { strategy: 'random-token', numPrompts: 5, seed: 1 });
    // The paper's one forward batch: the first batch's 3 images, not the pass's 6.
    expect(result.images).toBe(3);
    expect(result.candidates).toEqual([3 * PATCHES]);
    expect(result.inertia).toBeNull();
    const images = await allImages(data);
    const [patches, embedded] = [model.embedPatches(images), model.embed(images)];
    const patchRows = rowsOf(patches.dataSync() as Float32Array);
    const firstBatch = new Set(patchRows.slice(0, 3 * PATCHES));
    const secondBatch = new Set(patchRows.slice(3 * PATCHES));
    const embeddedRows = new Set(rowsOf(embedded.dataSync() as Float32Array));
    const prompts = rowsOf(result.prompts[0]!);
    expect(prompts).toHaveLength(5);
    expect(new Set(prompts).size).toBe(5);
    prompts.forEach((row) => {
      expect(firstBatch.has(row)).toBe(true);
      expect(secondBatch.has(row)).toBe(false);
      expect(embeddedRows.has(row)).toBe(false);
    });
    tf.dispose([images, patches, embedded]);
  });

  it('reads one batch (one forward pass) for pooling and random tokens, the whole pass for k-means', async () => {
    let yielded = 0;
    const counted: BatchSource = (epoch) => ({
      async *[Symbol.asyncIterator]() {
        for await (const batch of source(3, 2)(epoch)) {
          yielded += 1;
          yield batch;
        }
      },
    });
    for (const strategy of ['mean-pool', 'max-pool', 'random-token', 'kmeans'] as const) {
      yielded = 0;
      const result = await selfPromptInit(model, counted, { strategy, numPrompts: 4, deep: true });
      expect([strategy, yielded, result.images]).toEqual(strategy === 'kmeans' ? [strategy, 3, 6] : [strategy, 1, 2]);
    }
  });

  it('promptBlock: the set comes from the patch tokens entering that block (block b-1’s output without CLS)', async () => {
    const data = source(1, 2);
    const result = await selfPromptInit(model, data, { strategy: 'mean-pool', numPrompts: 4, promptBlock: 1, seed: 2 });
    const images = await allImages(data);
    const { features, intermediates } = model.forwardIntermediates(images, { indices: [0], format: 'tokens' });
    const patches = tf.tidy(() => tf.reshape(tf.slice(intermediates[0]!, [0, 1, 0], [-1, PATCHES, -1]), [2 * PATCHES, DIM]));
    // 32 tokens, 4 prompts: kernel 8, windows of 8 consecutive tokens of block 1's output.
    expect(result.prompts[0]).toEqual(poolBatchTokens(patches.dataSync() as Float32Array, 2 * PATCHES, DIM, 4, 'mean'));
    await expect(selfPromptInit(model, data, { strategy: 'mean-pool', numPrompts: 4, promptBlock: 2 })).rejects.toThrow(
      /^promptBlock must be a block index in \[0, 1\] \(the model has 2 blocks\), got 2$/,
    );
    await expect(selfPromptInit(model, data, { strategy: 'mean-pool', numPrompts: 4, promptBlock: 1, deep: true })).rejects.toThrow(
      /^promptBlock must be 0 for deep prompts \(a set enters every block\), got 1$/,
    );
    tf.dispose([images, features, ...intermediates, patches]);
  });

  it('deep: set 1 from the patch embedding, set i from block i-1’s output without CLS, on the backbone alone', async () => {
    const data = source(1, 4);
    const result = await selfPromptInit(model, data, { strategy: 'random-token', numPrompts: 6, deep: true, seed: 2 });
    expect(result.prompts).toHaveLength(2);
    const images = await allImages(data);
    const patches = model.embedPatches(images);
    const { features, intermediates } = model.forwardIntermediates(images, { indices: [0], format: 'tokens' });
    const blockRows = rowsOf(intermediates[0]!.dataSync() as Float32Array);
    const clsRows = new Set(blockRows.filter((_, r) => r % (PATCHES + 1) === 0));
    const patchRows = new Set(blockRows.filter((_, r) => r % (PATCHES + 1) !== 0));
    rowsOf(result.prompts[0]!).forEach((row) => expect(new Set(rowsOf(patches.dataSync() as Float32Array)).has(row)).toBe(true));
    rowsOf(result.prompts[1]!).forEach((row) => {
      expect(patchRows.has(row)).toBe(true);
      expect(clsRows.has(row)).toBe(false);
    });
    tf.dispose([images, patches, features, ...intermediates]);
  });

  it('mean-pool and max-pool: the batch’s tokens pooled with a kernel of floor(N_e * B / N_p), by hand', async () => {
    const data = source(2, 2);
    const images = await allImages(data);
    // The first batch: 2 images, 32 tokens in image-then-raster order.
    const tokens = tf.tidy(() => tf.reshape(model.embedPatches(tf.slice(images, [0, 0, 0, 0], [2, -1, -1, -1])), [2 * PATCHES, DIM]));
    for (const mode of ['mean', 'max'] as const) {
      // P = 5: kernel floor(32 / 5) = 6; window 2 is tokens 12 .. 17, image 1's last four and image 2's first two; tokens 30, 31 are left out.
      const result = await selfPromptInit(model, data, { strategy: `${mode}-pool`, numPrompts: 5, seed: 3 });
      expect(result.candidates).toEqual([32]);
      const expected = tf.tidy(() => {
        const windows = Array.from({ length: 5 }, (_, window) => {
          const rows = tf.slice(tokens, [window * 6, 0], [6, -1]);
          return mode === 'mean' ? tf.mean(rows, 0) : tf.max(rows, 0);
        });
        return Array.from(tf.stack(windows).dataSync());
      });
      Array.from(result.prompts[0]!).forEach((value, index) => expect(value).toBeCloseTo(expected[index]!, 5));
    }
    tf.dispose([images, tokens]);
  });

  it('k-means: the centroids of the token sample, with its inertia', async () => {
    const data = source(2, 2);
    const result = await selfPromptInit(model, data, { strategy: 'kmeans', numPrompts: 4, seed: 5, kmeans: { batchSize: 16, steps: 8 } });
    const images = await allImages(data);
    const patches = model.embedPatches(images);
    // sampleSize (20,000) exceeds the 64 tokens: the sample is every token, in stream order.
    const direct = kMeans(patches.dataSync() as Float32Array, DIM, { clusters: 4, seed: 5, batchSize: 16, steps: 8 });
    expect(result.prompts[0]).toEqual(direct.centroids);
    expect(result.inertia).toEqual([direct.inertia]);
    const sampled = await selfPromptInit(model, data, { strategy: 'kmeans', numPrompts: 4, sampleSize: 20, seed: 5 });
    expect(sampled.candidates).toEqual([64]);
    expect(sampled.prompts[0]).not.toEqual(result.prompts[0]);
    tf.dispose([images, patches]);
  });

  it('is deterministic for a seed and reads at most maxImages images', async () => {
    const data = source(3, 4);
    const options = { strategy: 'random-token', numPrompts: 5, seed: 7 } as const;
    const first = await selfPromptInit(model, data, options);
    expect((await selfPromptInit(model, data, options)).prompts).toEqual(first.prompts);
    expect((await selfPromptInit(model, data, { ...options, seed: 8 })).prompts).not.toEqual(first.prompts);
    const limited = await selfPromptInit(model, data, { ...options, maxImages: 3 });
    expect(limited.images).toBe(3);
    expect(limited.candidates).toEqual([3 * PATCHES]);
    const kmeans = await selfPromptInit(model, data, { strategy: 'kmeans', numPrompts: 2, maxImages: 5, kmeans: { steps: 2 } });
    expect(kmeans.images).toBe(5);
    expect(kmeans.candidates).toEqual([5 * PATCHES]);
  });

  it('refuses what it cannot use, naming the field', async () => {
    await expect(selfPromptInit(model, source(0, 1), { strategy: 'kmeans', numPrompts: 2 })).rejects.toThrow(/^source must yield at least one image, got "empty"$/);
    await expect(selfPromptInit(model, source(1, 1), { strategy: 'random-token', numPrompts: 17 })).rejects.toThrow(
      /^numPrompts must not exceed the tokens the data gave \(16\), got 17$/,
    );
    await expect(selfPromptInit(model, source(1, 1), { strategy: 'mean-pool', numPrompts: 17 })).rejects.toThrow(
      /^numPrompts must not exceed the tokens of the batch \(16\) for pooled prompts, got 17$/,
    );
    await expect(selfPromptInit(model, source(1, 1), { strategy: 'median' as never, numPrompts: 2 })).rejects.toThrow(ConfigError);
    await expect(selfPromptInit(model, source(1, 1), { strategy: 'kmeans', numPrompts: 2, sampleSize: 0 })).rejects.toThrow(/^sampleSize must be an integer >= 1/);
    await expect(selfPromptInit(model, source(1, 1), { strategy: 'kmeans', numPrompts: 2, maxImages: 0 })).rejects.toThrow(/^maxImages must be an integer >= 1/);
    await expect(selfPromptInit(model, source(1, 1), { strategy: 'kmeans', numPrompts: 2, layers: 3 } as never)).rejects.toThrow(/^selfPromptInit.layers is not an option/);
    const wrongSize: BatchSource = async function* () {
      yield { images: new Float32Array(3 * 16 * 16), labels: new Int32Array(1), shape: [1, 3, 16, 16] };
    };
    await expect(selfPromptInit(model, wrongSize, { strategy: 'kmeans', numPrompts: 2 })).rejects.toThrow(ShapeError);
  });
});

describe('PromptTuning.prepare', () => {
  it('sets the prompts from the data with the configured strategy, before or after the method is attached', async () => {
    const data = source(1, 2);
    const method = createVpt(model, { numPrompts: 3, deep: true, init: 'max-pool', seed: 4 });
    expect(method.prepared).toBe(false);
    await method.prepare(data);
    expect(method.prepared).toBe(true);
    const expected = await selfPromptInit(model, data, { strategy: 'max-pool', numPrompts: 3, deep: true, seed: 4 });
    expect(method.promptSets()).toEqual(expected.prompts);
    // Attached, unprepared (a forward pass with it would throw): prepare reads the backbone without it.
    const attached = createVpt(model, { numPrompts: 3, deep: true, init: 'max-pool', seed: 4 });
    model.attach(attached);
    await attached.prepare(data);
    expect(attached.promptSets()).toEqual(expected.prompts);
    // Attached and prepared with other prompts: its prompts would change the deep sets' block outputs, but stay off.
    attached.setPromptSets(expected.prompts.map((set) => set.map((value) => value + 1)));
    await attached.prepare(data);
    expect(attached.promptSets()).toEqual(expected.prompts);
    expect(model.activeExtensions).toEqual([attached]);
    model.detach(attached);
    [method, attached].forEach((m) => m.dispose());
  });

  it('prepares while attached after another prompt method, which stays on', async () => {
    const data = source(1, 2);
    const first = createVpt(model, { numPrompts: 2, seed: 1 });
    model.attach(first);
    const expected = await selfPromptInit(model, data, { strategy: 'mean-pool', numPrompts: 3, deep: true, seed: 4 });
    const bare = tinyModel();
    const alone = await selfPromptInit(bare, data, { strategy: 'mean-pool', numPrompts: 3, deep: true, seed: 4 });
    bare.dispose();
    // The first method's prompts take part in the blocks the deep sets are read from.
    expect(expected.prompts[1]).not.toEqual(alone.prompts[1]);
    const second = createVpt(model, { numPrompts: 3, deep: true, init: 'mean-pool', seed: 4 });
    model.attach(second);
    await second.prepare(data);
    expect(second.promptSets()).toEqual(expected.prompts);
    tf.tidy(() => {
      model.forward(tf.zeros([1, 3, 32, 32]));
    });
    [first, second].forEach((m) => {
      model.detach(m);
      m.dispose();
    });
  });

  it('makes the prompts from the tokens entering the block they enter (promptBlock)', async () => {
    const data = source(1, 2);
    const method = createVpt(model, { numPrompts: 3, init: 'random-token', promptBlock: 1, seed: 4 });
    await method.prepare(data);
    const expected = await selfPromptInit(model, data, { strategy: 'random-token', numPrompts: 3, promptBlock: 1, seed: 4 });
    const fromEmbedding = await selfPromptInit(model, data, { strategy: 'random-token', numPrompts: 3, seed: 4 });
    expect(method.promptSets()).toEqual(expected.prompts);
    expect(method.promptSets()).not.toEqual(fromEmbedding.prompts);
    method.dispose();
  });

  it('has nothing to prepare with the uniform init', async () => {
    const method = createVpt(model, { numPrompts: 3 });
    const before = method.promptSets();
    let read = false;
    await method.prepare(async function* () {
      read = true;
      yield* [];
    });
    expect(read).toBe(false);
    expect(method.promptSets()).toEqual(before);
    method.dispose();
  });
});

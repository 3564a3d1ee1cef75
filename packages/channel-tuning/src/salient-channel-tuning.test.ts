import * as tf from '@tensorflow/tfjs-core';
import { describeMethodContract, tinyModel } from '@visual-peft/method-testing';
import type { BatchSource, BlockContext, ChannelDiagnostic, DiagnosticProbe, VisionTransformer, VitExtension } from '@visual-peft/vit-core';
import { CheckpointMismatchError, ConfigError, ShapeError, fromHostTensor, loadMethodWeights, parseSafetensors, serializeMethodWeights } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { createChannelDeletion, runChannelDeletionTest } from './channel-deletion';
import { computeChannelImportance, selectChannels } from './channel-importance';
import { resolveSalientChannelConfig } from './config';
import { ChannelsNotSelectedError, SCT_DEFINITION, SctMethod, createSalientChannelTuning } from './salient-channel-tuning';

const context: BlockContext = { training: false, seed: undefined, imageOffset: 0, recompute: false, state: new Map(), blockIndex: 1, depth: 2 };

/** Random images with labels 0..4 in batches of `size`. */
function randomSource(count: number, size: number, seed = 3): BatchSource {
  const images = tf.tidy(() => tf.randomNormal([count, 3, 32, 32], 0, 1, 'float32', seed).dataSync() as Float32Array);
  const labels = Int32Array.from({ length: count }, (_, i) => i % 5);
  const perImage = 3 * 32 * 32;
  return async function* () {
    for (let start = 0; start < count; start += size) {
      const n = Math.min(size, count - start);
      yield { images: images.subarray(start * perImage, (start + n) * perImage), labels: labels.subarray(start, start + n), shape: [n, 3, 32, 32] as const };
    }
  };
}

/** Fixed channels for a tiny model: block b gets channels b, b+3, b+6, ... */
function fixedChannels(k: number, depth = 2): Int32Array[] {
  return Array.from({ length: depth }, (_, block) => Int32Array.from({ length: k }, (_, i) => block + 3 * i));
}

describe('the salient channel module (SCTM)', () => {
  it('adds scale * (W x + b) on the selected channels of every token, CLS included, and leaves every other channel bit-identical', () => {
    const model = tinyModel();
    const channels = fixedChannels(4);
    const method = createSalientChannelTuning(model, { k: 4, scale: 0.5 }, { attn: channels });
    tf.tidy(() => method.trainableVariables().forEach((variable, i) => variable.assign(tf.randomNormal(variable.shape, 0, 0.3, 'float32', i))));
    const stream = tf.randomNormal([2, 17, 32], 0, 1, 'float32', 9) as tf.Tensor3D;
    const out = method.residual!('attn', stream, context);
    const untouched = method.residual!('mlp', stream, context);
    expect(untouched).toBe(stream);
    const [inValues, outValues] = [stream.arraySync(), out.arraySync()];
    const [weight, bias] = method.trainableVariables().slice(2, 4).map((variable) => variable.arraySync() as number[] & number[][]);
    const selected = Array.from(channels[1]!);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 17; t++) {
        for (let d = 0; d < 32; d++) {
          const position = selected.indexOf(d);
          if (position < 0) {
            expect(outValues[b]![t]![d]).toBe(inValues[b]![t]![d]);
            continue;
          }
          // weight is stored [in, out]: output j = sum_i x_i W[i][j] + b_j.
          let expected = (bias as unknown as number[])[position]!;
          selected.forEach((channel, i) => (expected += inValues[b]![t]![channel]! * (weight as number[][])[i]![position]!));
          expect(outValues[b]![t]![d]).toBeCloseTo(inValues[b]![t]![d]! + 0.5 * expected, 5);
        }
      }
    }
    tf.dispose([stream, out]);
    method.dispose();
    model.dispose();
  });

  it('counts L * (K^2 + K) parameters per position, per-block K included', () => {
    const model = tinyModel();
    expect(createSalientChannelTuning(model, { k: 8, selection: 'random' }).numParameters()).toBe(2 * (64 + 8));
    expect(createSalientChannelTuning(model, { k: '8,4', position: 'both', selection: 'random' }).numParameters()).toBe(2 * (72 + 20));
    model.dispose();
  });

  it('refuses to run before its channels are chosen, naming what to do', () => {
    const model = tinyModel();
    const method = createSalientChannelTuning(model, { k: 4 });
    model.attach(method);
    const images = tf.zeros([1, 3, 32, 32]) as tf.Tensor4D;
    expect(() => model.forward(images)).toThrow(ChannelsNotSelectedError);
    expect(() => model.forward(images)).toThrow(/call prepare\(trainingData\) or loadWeights\(\) first/);
    images.dispose();
    model.detach(method);
    method.dispose();
    model.dispose();
  });

  it('prepare() picks the top-K channels of CAIS; the saved weights hold them, so a reload needs no data', async () => {
    const model = tinyModel();
    const source = randomSource(10, 4);
    const method = createSalientChannelTuning(model, { k: 6 });
    await method.prepare(source);
    const importance = await computeChannelImportance(model, source, { numClasses: 5 });
    expect(method.selectedChannels().attn!.map((c) => Array.from(c!))).toEqual(importance.scores.map((scores) => Array.from(selectChannels(scores, 6, 'salient', 32))));
    const saved = method.weights();
    const reloaded = createSalientChannelTuning(model, { k: 6 });
    reloaded.loadWeights(saved);
    expect(reloaded.selectedChannels()).toEqual(method.selectedChannels());
    tf.dispose([...saved.values()]);
    [method, reloaded].forEach((m) => m.dispose());
    model.dispose();
  });

  it('a fresh, unprepared SCT on a fresh model loads saved bytes and gives identical logits; bad channels change nothing', async () => {
    const model = tinyModel();
    const method = createSalientChannelTuning(model, { k: 6 });
    await method.prepare(randomSource(10, 4));
    model.attach(method);
    tf.tidy(() => method.trainableVariables().forEach((variable, index) => variable.assign(tf.randomNormal(variable.shape, 0, 0.1, 'float32', index))));
    const bytes = serializeMethodWeights(method);
    const images = tf.randomNormal<tf.Rank.R4>([2, 3, 32, 32], 0, 1, 'float32', 9);
    const expected = model.forward(images);

    const fresh = tinyModel();
    const reloaded = createSalientChannelTuning(fresh, { k: 6 });
    fresh.attach(reloaded);
    const { tensors } = parseSafetensors(bytes);
    const badChannels = new Map([...tensors].map(([name, host]) => [name, fromHostTensor(host)]));
    badChannels.get('blocks.0.attn.channels')!.dispose();
    badChannels.set('blocks.0.attn.channels', tf.tensor1d([0, 1, 2, 3, 4, 99], 'int32'));
    expect(() => reloaded.checkWeights(badChannels)).toThrow(ShapeError);
    expect(() => reloaded.loadWeights(badChannels)).toThrow(ShapeError);
    expect(reloaded.selectedChannels().attn).toEqual([null, null]);
    tf.dispose([...badChannels.values()]);

    expect(loadMethodWeights(reloaded, bytes).method).toBe(method.name);
    const actual = fresh.forward(images);
    expect(Array.from(actual.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([images, expected, actual]);
    [method, reloaded].forEach((m) => m.dispose());
    [model, fresh].forEach((m) => m.dispose());
  });

  it('takes channels in any order, as the official code does: the same channels permuted, with weight and bias permuted alike, give the same logits', () => {
    const model = tinyModel();
    const method = createSalientChannelTuning(model, { k: 5 }, { attn: fixedChannels(5) });
    model.attach(method);
    tf.tidy(() => method.trainableVariables().forEach((variable, index) => variable.assign(tf.randomNormal(variable.shape, 0, 0.2, 'float32', index))));
    const images = tf.randomNormal<tf.Rank.R4>([2, 3, 32, 32], 0, 1, 'float32', 9);
    const expected = model.forward(images);
    // Module slot i of the permuted method is slot order[i] of the ascending one.
    const order = tf.tensor1d([3, 0, 4, 1, 2], 'int32');
    const saved = method.weights();
    const permuted = new Map(
      [...saved].map(([name, tensor]) => [name, tf.tidy(() => (name.endsWith('.weight') ? tf.gather(tf.gather(tensor, order, 0), order, 1) : tf.gather(tensor, order)))]),
    );
    const fresh = tinyModel();
    const reloaded = createSalientChannelTuning(fresh, { k: 5 });
    fresh.attach(reloaded);
    reloaded.loadWeights(permuted);
    expect(Array.from(reloaded.selectedChannels().attn![1]!)).toEqual([10, 1, 13, 4, 7]);
    const actual = fresh.forward(images);
    const [a, e] = [actual.dataSync(), expected.dataSync()];
    expect(Math.max(...Array.from(a, (value, i) => Math.abs(value - e[i]!)))).toBeLessThan(1e-5);
    // The check is not vacuous: the permuted weights with the channels left ascending differ.
    permuted.get('blocks.1.attn.channels')!.dispose();
    permuted.set('blocks.1.attn.channels', tf.tensor1d(fixedChannels(5)[1]!, 'int32'));
    reloaded.loadWeights(permuted);
    const mismatched = fresh.forward(images);
    expect(Math.max(...Array.from(mismatched.dataSync(), (value, i) => Math.abs(value - e[i]!)))).toBeGreaterThan(1e-3);
    tf.dispose([images, expected, actual, mismatched, order, ...saved.values(), ...permuted.values()]);
    [method, reloaded].forEach((m) => m.dispose());
    [model, fresh].forEach((m) => m.dispose());
  });

  it('diagnostics: the chosen channels and CAIS scores at the first position, from prepare, or computed once from the probe’s source for a loaded method', async () => {
    const model = tinyModel();
    const source = randomSource(10, 4);
    const images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
    let passes = 0;
    const counted: BatchSource = (epoch) => {
      passes += 1;
      return source(epoch);
    };
    const probe = (withSource: boolean): DiagnosticProbe => ({ model, images, source: withSource ? counted : null, epoch: 0 });
    const importance = await computeChannelImportance(model, source, { position: 'mlp', numClasses: 5 });
    const expectedScores = importance.scores.map((block) => Array.from(block));
    const method = createSalientChannelTuning(model, { k: 6, position: 'both' });
    model.attach(method);
    await method.prepare(source);
    const expectedChannels = method.selectedChannels().attn!.map((c) => Array.from(c!));
    const [prepared] = (await method.diagnostics(probe(false))) as ChannelDiagnostic[];
    expect(prepared).toMatchObject({ kind: 'channels', name: 'salient-channels', selected: expectedChannels });
    expect(prepared!.title).toMatch(/SCT, Sec. 3.2/);
    const attnImportance = await model.disableExtensions(() => computeChannelImportance(model, source, { position: 'attn', numClasses: 5 }), [method]);
    expect(prepared!.scores).toEqual(attnImportance.scores.map((block) => Array.from(block)));

    model.detach(method);

    // Loaded, not prepared, MLP first: no scores without data; with the probe's source, CAIS of the model without SCT.
    const mlpOnly = createSalientChannelTuning(model, { k: 6, position: 'mlp' }, { mlp: fixedChannels(6) });
    const saved = mlpOnly.weights();
    const loaded = createSalientChannelTuning(model, { k: 6, position: 'mlp' });
    loaded.loadWeights(saved);
    model.attach(loaded);
    const logits = tf.tidy(() => Array.from(model.forward(images).dataSync()));
    const [withoutData] = await loaded.diagnostics(probe(false));
    expect(withoutData!.scores).toBeNull();
    expect(withoutData!.selected).toEqual(fixedChannels(6).map((c) => Array.from(c)));
    const tensors = tf.memory().numTensors;
    const [withData] = await loaded.diagnostics(probe(true));
    expect(withData!.scores).toEqual(expectedScores);
    const [again] = await loaded.diagnostics(probe(true));
    expect(again).toEqual(withData);
    expect(passes).toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
    // It changed nothing: same channels, same logits, still attached and switched on.
    expect(loaded.selectedChannels().mlp!.map((c) => Array.from(c!))).toEqual(fixedChannels(6).map((c) => Array.from(c)));
    expect(tf.tidy(() => Array.from(model.forward(images).dataSync()))).toEqual(logits);
    expect(model.activeExtensions).toEqual([loaded]);
    tf.dispose([images, ...saved.values()]);
    model.detach(loaded);
    [method, mlpOnly, loaded].forEach((m) => m.dispose());
    model.dispose();
  });

  it('refuses missing, unexpected and wrong-shaped weights in one CheckpointMismatchError, and bad channels in a ShapeError, writing nothing', () => {
    const model = tinyModel();
    const method = createSalientChannelTuning(model, { k: 4 }, { attn: fixedChannels(4) });
    const saved = method.weights();
    const target = createSalientChannelTuning(model, { k: 4, seed: 5 }, { attn: fixedChannels(4).reverse() });
    const state = () => ({ channels: target.selectedChannels(), weights: target.trainableVariables().map((v) => Array.from(v.dataSync())) });
    const original = state();
    const load = (changes: [string, tf.Tensor | null][]) => {
      const weights = new Map(saved);
      for (const [name, value] of changes) {
        if (value === null) weights.delete(name);
        else weights.set(name, value);
      }
      return () => target.loadWeights(weights);
    };
    const [wide, floatChannels, repeated, extra] = [tf.zeros([4, 5]), tf.tensor1d([0, 1, 2, 3]), tf.tensor1d([3, 2, 2, 0], 'int32'), tf.zeros([1])];
    expect(load([['blocks.1.attn.bias', null], ['blocks.0.attn.weight', wide], ['blocks.0.mlp.weight', extra]])).toThrow(
      'sct weights does not fit the model: missing keys: blocks.1.attn.bias; unexpected keys: blocks.0.mlp.weight; wrong shapes: blocks.0.attn.weight expected [4, 4] found [4, 5]',
    );
    expect(load([['blocks.1.attn.channels', floatChannels]])).toThrow(CheckpointMismatchError);
    expect(load([['blocks.1.attn.channels', floatChannels]])).toThrow('wrong dtypes: blocks.1.attn.channels expected int32 found float32');
    expect(load([['blocks.1.attn.channels', repeated]])).toThrow(ShapeError);
    expect(load([['blocks.1.attn.channels', repeated]])).toThrow(/channels of block 1 \(attn\) must be 4 distinct indices in \[0, 31\], got \[3, 2, 2, 0\]/);
    expect(state()).toEqual(original);
    load([])();
    expect(target.selectedChannels()).toEqual(method.selectedChannels());
    tf.dispose([...saved.values(), wide, floatChannels, repeated, extra]);
    [method, target].forEach((m) => m.dispose());
    model.dispose();
  });

  it('rejects channels that are not K distinct indices in range', () => {
    const model = tinyModel();
    expect(() => createSalientChannelTuning(model, { k: 3 }, { attn: [Int32Array.from([0, 2, 2]), Int32Array.from([0, 1, 2])] })).toThrow(
      /channels of block 0 \(attn\) must be 3 distinct indices in \[0, 31\], got \[0, 2, 2\]/,
    );
    expect(() => createSalientChannelTuning(model, { k: 3 }, { attn: [Int32Array.from([0, 1]), Int32Array.from([0, 1, 2])] })).toThrow(/got \[0, 1\]/);
    expect(() => createSalientChannelTuning(model, { k: 2 }, { attn: [Int32Array.from([0, 32]), Int32Array.from([0, 1])] })).toThrow(/got \[0, 32\]/);
    model.dispose();
  });
});

describe('class-aware importance (CAIS)', () => {
  it('equals the per-class L2 norms over images and patch tokens, averaged over the classes present', async () => {
    const model = tinyModel();
    const streams: number[][][][] = [];
    const spy = { name: 'spy', residual: (site: string, stream: tf.Tensor3D, ctx: BlockContext) => {
      if (site === 'attn' && ctx.blockIndex === 1) streams.push(stream.arraySync());
      return stream;
    } };
    model.attach(spy);
    const source = randomSource(6, 6);
    for await (const batch of source(0)) tf.dispose(model.forwardFeatures(tf.tensor4d(batch.images, [...batch.shape])));
    model.detach(spy);
    const labels = [0, 1, 2, 3, 4, 0];
    const expected = Array.from({ length: 32 }, (_, channel) => {
      let total = 0;
      for (const c of [0, 1, 2, 3, 4]) {
        let squares = 0;
        labels.forEach((label, image) => {
          if (label === c) for (let t = 1; t < 17; t++) squares += streams[0]![image]![t]![channel]! ** 2;
        });
        total += Math.sqrt(squares);
      }
      return total / 5;
    });
    const importance = await computeChannelImportance(model, randomSource(6, 4), { numClasses: 7 });
    const actual = Array.from(importance.scores[1]!);
    actual.forEach((value, channel) => expect(value).toBeCloseTo(expected[channel]!, 4));
    expect(Array.from(importance.classCounts)).toEqual([2, 1, 1, 1, 1, 0, 0]);
    model.dispose();
  });

  it('refuses labels outside the class range and an empty source', async () => {
    const model = tinyModel();
    await expect(computeChannelImportance(model, randomSource(6, 6), { numClasses: 3 })).rejects.toThrow(/labels must lie in \[0, 2\] \(numClasses 3\), got 3/);
    const empty: BatchSource = async function* () {};
    await expect(computeChannelImportance(model, empty, { numClasses: 3 })).rejects.toThrow(/saw no images/);
    model.dispose();
  });
});

/**
 * Replaces the residual stream at 'attn' of every block with known features for one batch of two
 * images (labels 0, 1), 16 patch tokens each: channel 0 is 1.25 on image 0's patches (per-class norm
 * 5 for class 0, 0 for class 1), channel 1 is 0.75 on both images' patches (norm 3 per class), and
 * channel 2 is 100 on CLS only, which every score drops.
 */
function knownFeatures(): { extension: VitExtension; source: BatchSource } {
  const values = Array.from({ length: 2 }, (_, image) =>
    Array.from({ length: 17 }, (_, token) =>
      Array.from({ length: 32 }, (_, channel) => {
        if (token === 0) return channel === 2 ? 100 : 0;
        if (channel === 0) return image === 0 ? 1.25 : 0;
        return channel === 1 ? 0.75 : 0;
      }),
    ),
  );
  const extension: VitExtension = { name: 'known-features', residual: (site, stream) => (site === 'attn' ? tf.tensor3d(values) : stream) };
  const images = new Float32Array(2 * 3 * 32 * 32);
  const source: BatchSource = async function* () {
    yield { images, labels: Int32Array.from([0, 1]), shape: [2, 3, 32, 32] as const };
  };
  return { extension, source };
}

describe('the dataset-level score (SCT, Sec. 3.2 and Table 7)', () => {
  it('is each channel’s L2 norm over every image and patch token, where CAIS averages the per-class norms; the two rank known features differently', async () => {
    const model = tinyModel();
    const { extension, source } = knownFeatures();
    model.attach(extension);
    const classAware = await computeChannelImportance(model, source, { numClasses: 5 });
    const dataset = await computeChannelImportance(model, source, { numClasses: 5, score: 'dataset' });
    expect([classAware.score, dataset.score]).toEqual(['class-aware', 'dataset']);
    for (const block of [0, 1]) {
      // CAIS: channel 0 (5 + 0) / 2 = 2.5, channel 1 (3 + 3) / 2 = 3. Dataset: sqrt(25) = 5 and sqrt(9 + 9).
      expect(Array.from(classAware.scores[block]!.subarray(0, 3))).toEqual([2.5, 3, 0]);
      const [zero, one, two] = Array.from(dataset.scores[block]!.subarray(0, 3));
      expect(zero).toBe(5);
      expect(one).toBeCloseTo(Math.sqrt(18), 6);
      expect(two).toBe(0);
      expect(Array.from(dataset.scores[block]!.subarray(3)).every((value) => value === 0)).toBe(true);
    }

    // Through the method: K = 1 picks channel 1 by CAIS and channel 0 by the dataset-level score.
    const images = tf.zeros([1, 3, 32, 32]) as tf.Tensor4D;
    const picked = async (score: 'class-aware' | 'dataset') => {
      const method = createSalientChannelTuning(model, { k: 1, score });
      await method.prepare(source);
      const [record] = await method.diagnostics({ model, images, source: null, epoch: 0 });
      method.dispose();
      return { channels: record!.selected, title: record!.title };
    };
    const tensors = tf.memory().numTensors;
    expect(await picked('class-aware')).toEqual({ channels: [[1], [1]], title: expect.stringMatching(/class-aware importance score \(SCT, Sec. 3.2\)$/) });
    expect(await picked('dataset')).toEqual({ channels: [[0], [0]], title: expect.stringMatching(/dataset-level importance score \(SCT, Sec. 3.2 and Table 7\)$/) });
    expect(tf.memory().numTensors).toBe(tensors);
    images.dispose();
    model.detach(extension);
    model.dispose();
  });

  it('refuses an unknown score naming the field', async () => {
    const model = tinyModel();
    await expect(computeChannelImportance(model, randomSource(2, 2), { numClasses: 5, score: 'global' as never })).rejects.toThrow(ConfigError);
    model.dispose();
  });
});

describe('SCT modules in the last l blocks only (SCT, Sec. 4.3, Figure 9)', () => {
  it('edits only the last l blocks, counts l * (K^2 + K), saves those blocks, and reports every block with the untuned ones empty', async () => {
    const model = tinyModel();
    const method = createSalientChannelTuning(model, { k: 6, lastBlocks: 1 });
    expect(method.blocks).toEqual([1]);
    expect(method.numParameters()).toBe(36 + 6);
    const source = randomSource(10, 4);
    await method.prepare(source);
    const importance = await computeChannelImportance(model, source, { numClasses: 5 });
    const expected = Array.from(selectChannels(importance.scores[1]!, 6, 'salient', 32));
    expect(method.selectedChannels().attn!.map((c) => Array.from(c!))).toEqual([expected]);

    const stream = tf.randomNormal([2, 17, 32], 0, 1, 'float32', 9) as tf.Tensor3D;
    expect(method.residual!('attn', stream, { ...context, blockIndex: 0 })).toBe(stream);
    const edited = method.residual!('attn', stream, context);
    expect(edited).not.toBe(stream);
    tf.dispose([stream, edited]);

    const saved = method.weights();
    expect([...saved.keys()].sort()).toEqual(['blocks.1.attn.bias', 'blocks.1.attn.channels', 'blocks.1.attn.weight']);
    const reloaded = createSalientChannelTuning(model, { k: 6, lastBlocks: 1 });
    reloaded.loadWeights(saved);
    expect(reloaded.selectedChannels()).toEqual(method.selectedChannels());
    // A checkpoint of every block does not fit the last block only.
    const everyBlock = createSalientChannelTuning(model, { k: 6 }, { attn: fixedChannels(6) });
    const full = everyBlock.weights();
    expect(() => reloaded.loadWeights(full)).toThrow(/unexpected keys: blocks.0.attn.weight, blocks.0.attn.bias, blocks.0.attn.channels/);

    const images = tf.zeros([1, 3, 32, 32]) as tf.Tensor4D;
    const [record] = await method.diagnostics({ model, images, source: null, epoch: 0 });
    expect(record!.selected).toEqual([[], expected]);
    expect(record!.scores).toEqual(importance.scores.map((block) => Array.from(block)));
    expect(() => createSalientChannelTuning(model, { k: 6, lastBlocks: 1 }, { attn: fixedChannels(6) })).toThrow(/channels for attn must list 1 tuned blocks, got 2/);
    tf.dispose([images, ...saved.values(), ...full.values()]);
    [method, reloaded, everyBlock].forEach((m) => m.dispose());
    model.dispose();
  });

  it('keeps a config resolved before lastBlocks and score existed working: every block, CAIS', () => {
    const model = tinyModel();
    const method = new SctMethod(model, { k: [4, 4], position: 'attn', scale: 1, selection: 'random', seed: 0 } as never);
    expect(method.blocks).toEqual([0, 1]);
    expect(method.config).toMatchObject({ lastBlocks: 2, score: 'class-aware' });
    expect(method.numParameters()).toBe(2 * (16 + 4));
    method.dispose();
    model.dispose();
  });
});

describe('channel selection', () => {
  const scores = Float32Array.from([0.5, 2, 2, 0.1, 3, 0.2]);
  it('salient: the K highest in ascending order, ties to the lower index; insalient: the K lowest', () => {
    expect(Array.from(selectChannels(scores, 3, 'salient', 6))).toEqual([1, 2, 4]);
    expect(Array.from(selectChannels(scores, 2, 'salient', 6))).toEqual([1, 4]);
    expect(Array.from(selectChannels(scores, 2, 'insalient', 6))).toEqual([3, 5]);
  });
  it('random: seeded and reproducible, different for another seed', () => {
    const model = tinyModel();
    const pick = (seed: number) => createSalientChannelTuning(model, { k: 8, selection: 'random', seed }).selectedChannels().attn!.map((c) => Array.from(c!));
    expect(pick(1)).toEqual(pick(1));
    expect(pick(1)).not.toEqual(pick(2));
    model.dispose();
  });
});

describe('configuration', () => {
  const backbone = { depth: 12, embedDim: 768 };
  it("takes one K, a list, or the paper's runs", () => {
    expect(resolveSalientChannelConfig({ k: '192x4,96x8' }, backbone).k).toEqual([...new Array(4).fill(192), ...new Array(8).fill(96)]);
    expect(resolveSalientChannelConfig({}, backbone)).toEqual({ k: new Array(12).fill(96), lastBlocks: 12, position: 'attn', scale: 1, selection: 'salient', score: 'class-aware', seed: 0 });
  });
  it('takes the last l blocks (Figure 9): K per tuned block, one value or one each', () => {
    expect(resolveSalientChannelConfig({ lastBlocks: 6 }, backbone)).toMatchObject({ k: new Array(6).fill(96), lastBlocks: 6 });
    expect(resolveSalientChannelConfig({ lastBlocks: 2, k: '192,96' }, backbone).k).toEqual([192, 96]);
    expect(resolveSalientChannelConfig({ score: 'dataset' }, backbone).score).toBe('dataset');
  });
  it.each([
    [{ k: '96,96' }, /k must give one value or one per tuned block \(12 blocks\), got 2 values/],
    [{ k: '96x12', lastBlocks: 6 }, /k must give one value or one per tuned block \(6 tuned blocks, the last of 12\), got 12 values/],
    [{ lastBlocks: 0 }, /lastBlocks must be an integer >= 1, got 0/],
    [{ lastBlocks: 2.5 }, /lastBlocks must be an integer >= 1, got 2.5/],
    [{ lastBlocks: 13 }, /lastBlocks must be at most the backbone's depth \(12 blocks\), got 13/],
    [{ score: 'global' }, /score must be one of class-aware, dataset, got "global"/],
    [{ selection: 'random', score: 'dataset' }, /score must be left out with selection 'random' \(it ranks nothing\), got "dataset"/],
    [{ k: 0 }, /k must hold integers in \[1, embedDim = 768\], got 0/],
    [{ k: 'many' }, /k must be a number, a comma-separated list, or runs like "192x4,96x8", got "many"/],
    [{ position: 'ffn' }, /position must be one of attn, mlp, both, got "ffn"/],
    [{ scale: Number.NaN }, /scale must be a finite number, got NaN/],
    [{ selection: 'best' }, /selection must be one of salient, insalient, random, got "best"/],
    [{ seed: 0.5 }, /seed must be an integer, got 0.5/],
    [{ rank: 4 }, /^sct.rank is not an option \(options: k, lastBlocks, position, scale, selection, score, seed\), got 4$/],
  ])('rejects %j naming the field', (input, message) => {
    expect(() => resolveSalientChannelConfig(input as never, backbone)).toThrow(ConfigError);
    expect(() => resolveSalientChannelConfig(input as never, backbone)).toThrow(message);
  });
  it('names the default K when it does not fit a narrow backbone', () => {
    expect(() => resolveSalientChannelConfig({}, { depth: 2, embedDim: 32 })).toThrow(/k must hold integers in \[1, embedDim = 32\], got 96/);
  });
});

describe('channel deletion test', () => {
  it('zeroes exactly the given channels at one block, and runs salient vs random deletion per block', async () => {
    const model = tinyModel();
    const deletion = createChannelDeletion(model, { block: 1, position: 'attn', channels: Int32Array.from([2, 5]) });
    const stream = tf.ones([1, 3, 32]) as tf.Tensor3D;
    const out = deletion.residual!('attn', stream, context).arraySync()[0]![0]!;
    expect(out.filter((value) => value === 0).length).toBe(2);
    expect([out[2], out[5]]).toEqual([0, 0]);
    expect(deletion.residual!('attn', stream, { ...context, blockIndex: 0 })).toBe(stream);
    deletion.dispose();
    stream.dispose();

    const importance = await computeChannelImportance(model, randomSource(5, 5), { numClasses: 5 });
    const seen: number[] = [];
    const rows = await runChannelDeletionTest(model, {
      importance,
      k: 4,
      evaluate: async (evaluated: VisionTransformer) => {
        seen.push(evaluated.extensions.length);
        return seen.length;
      },
    });
    expect(rows).toEqual([
      { block: 0, salientDeleted: 1, randomDeleted: 2 },
      { block: 1, salientDeleted: 3, randomDeleted: 4 },
    ]);
    expect(seen).toEqual([1, 1, 1, 1]);
    expect(model.extensions).toHaveLength(0);
    expect(() => createChannelDeletion(model, { block: 2, position: 'attn', channels: Int32Array.from([0]) })).toThrow(/block must be a block index in \[0, 1\], got 2/);
    model.dispose();
  });
});

describeMethodContract([
  { name: 'sct salient channels at attn', declared: { definition: SCT_DEFINITION, options: { k: 8 } }, create: (model) => createSalientChannelTuning(model, { k: 8 }, { attn: fixedChannels(8) }), expectedParameters: 2 * (64 + 8) },
  { name: 'sct random selection at both positions, scale 0.5', declared: { definition: SCT_DEFINITION, options: { k: 6, position: 'both', selection: 'random', scale: 0.5 } }, create: (model) => createSalientChannelTuning(model, { k: 6, position: 'both', selection: 'random', scale: 0.5 }), expectedParameters: 4 * (36 + 6) },
  { name: 'sct per-block K after the MLP', declared: { definition: SCT_DEFINITION, options: { k: [4, 8], position: 'mlp' } }, create: (model) => createSalientChannelTuning(model, { k: [4, 8], position: 'mlp' }, { mlp: [fixedChannels(4)[0]!, fixedChannels(8)[1]!] }), expectedParameters: 20 + 72 },
  { name: 'sct in the last block only (Figure 9), dataset-level score', declared: { definition: SCT_DEFINITION, options: { k: 8, lastBlocks: 1, score: 'dataset' } }, create: (model) => createSalientChannelTuning(model, { k: 8, lastBlocks: 1, score: 'dataset' }, { attn: [fixedChannels(8)[1]!] }), expectedParameters: 64 + 8 },
]);

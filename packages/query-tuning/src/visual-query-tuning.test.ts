import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, describeMethodContract, tinyModel } from '@visual-peft/method-testing';
import type { BatchSource, ForwardPassContext, VitExtension } from '@visual-peft/vit-core';
import { CheckpointMismatchError, ShapeError, applyTrainablePolicy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { resolveVisualQueryConfig } from './config';
import { compressWithGroupLasso } from './group-lasso';
import type { FrozenFeatures } from './visual-query-tuning';
import { VQT_DEFINITION, createVisualQueryTuning, disposeFrozen, queryTrainingForward } from './visual-query-tuning';

const images = () => tf.randomNormal([3, 3, 32, 32], 0, 1, 'float32', 2) as tf.Tensor4D;

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Three prompt tokens inserted after CLS before block 0: stands in for VPT in composition tests. */
function promptsAfterCls(): VitExtension & { prompts: tf.Tensor3D } {
  const prompts = tf.randomNormal([1, 3, 32], 0, 1, 'float32', 12) as tf.Tensor3D;
  return {
    name: 'prompts',
    prompts,
    enterBlock: (tokens, context) =>
      context.blockIndex !== 0
        ? tokens
        : tf.concat([tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), tf.broadcastTo(prompts, [tokens.shape[0], 3, 32]) as tf.Tensor3D, tf.slice(tokens, [0, 1, 0], [-1, -1, -1])], 1),
  };
}

describe('Visual Query Tuning', () => {
  it("leaves the backbone's tokens bit-identical and its queries attend to the block's tokens only, not to each other", () => {
    const model = tinyModel();
    const input = images();
    const plain = model.forwardFeatures(input);
    const vqt = createVisualQueryTuning(model, { numQueries: 2, dropout: 0 });
    model.attach(vqt);
    const withQueries = model.forwardFeatures(input);
    expect(maxAbsDiff(withQueries, plain)).toBe(0);
    // Changing query 1 of every block must not move query 0's output.
    const frozen = vqt.frozenPass(input);
    const before = vqt.featuresFromFrozen(frozen);
    const [query0] = vqt.trainableVariables() as tf.Variable[];
    tf.tidy(() => query0!.assign(tf.concat([tf.slice(query0!, [0, 0, 0], [1, 1, 32]), tf.add(tf.slice(query0!, [0, 1, 0], [1, 1, 32]), 1)], 1)));
    const after = vqt.featuresFromFrozen(frozen);
    // Features: [CLS group (32) | block 0: query 0 (32), query 1 (32) | block 1 ...]; block 0's query 0 is columns 32..63,
    // but the whole group is L2-normalised together, so compare the raw outputs through the normalisation-free ratio.
    const groupBefore = tf.slice(before, [0, 32], [-1, 64]);
    const groupAfter = tf.slice(after, [0, 32], [-1, 64]);
    const ratio = tf.tidy(() => tf.div(tf.slice(groupAfter, [0, 0], [-1, 32]), tf.slice(groupBefore, [0, 0], [-1, 32])));
    const ratios = ratio.dataSync();
    for (let row = 0; row < 3; row++) {
      const first = ratios[row * 32]!;
      for (let column = 0; column < 32; column++) expect(ratios[row * 32 + column]).toBeCloseTo(first, 5);
    }
    tf.dispose([input, plain, withQueries, before, after, groupBefore, groupAfter, ratio]);
    disposeFrozen(frozen);
    model.detach(vqt);
    vqt.dispose();
    model.dispose();
  });

  it('feeds the head D + sum(T_l) * D features, each group L2-normalised', () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model, { numQueries: [2, 1], dropout: 0 });
    expect(vqt.featureDim).toBe(32 * 4);
    const input = images();
    const frozen = vqt.frozenPass(input);
    const features = vqt.featuresFromFrozen(frozen);
    expect(features.shape).toEqual([3, 128]);
    const norms = tf.tidy(() => [[0, 32], [32, 64], [96, 32]].map(([start, size]) => Array.from(tf.norm(tf.slice(features, [0, start!], [-1, size!]), 'euclidean', 1).dataSync())));
    norms.flat().forEach((norm) => expect(norm).toBeCloseTo(1, 5));
    tf.dispose([input, features]);
    disposeFrozen(frozen);
    vqt.dispose();
    model.dispose();
  });

  it('the memory path (frozen pass outside the tape, query path inside) gives the hook path’s logits and gradients', () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model, { numQueries: [1, 2], dropout: 0.1 });
    model.attach(vqt);
    const input = images();
    const labels = tf.oneHot(tf.tensor1d([0, 3, 4], 'int32'), 5);
    const options = { training: true, seed: 9 };
    const hookLogits = model.forward(input, options);
    const frozen = vqt.frozenPass(input);
    const memoryLogits = vqt.logitsFromFrozen(frozen, options);
    expect(maxAbsDiff(memoryLogits, hookLogits)).toBe(0);
    const variables = vqt.trainableVariables();
    const hook = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.forward(input, options)) as tf.Scalar, variables);
    const memory = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, vqt.logitsFromFrozen(frozen, options)) as tf.Scalar, variables);
    for (const variable of variables) expect(maxAbsDiff(memory.grads[variable.name]!, hook.grads[variable.name]!)).toBeLessThan(1e-6);
    tf.dispose([input, labels, hookLogits, memoryLogits, hook.value, memory.value, Object.values(hook.grads), Object.values(memory.grads)]);
    disposeFrozen(frozen);
    model.detach(vqt);
    vqt.dispose();
    model.dispose();
  });

  it('keys each image’s query dropout by its place in the batch: micro-batches of the memory path give the whole batch’s logits', () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model, { numQueries: [2, 3], dropout: 0.5 });
    model.attach(vqt);
    const before = tf.memory().numTensors;
    const input = images();
    const options = { training: true, seed: 4 };
    const whole = model.forward(input, options);
    const parts = [[0, 2], [2, 1]].map(([start, count]) =>
      tf.tidy(() => {
        const frozen = vqt.frozenPass(tf.slice(input, [start!, 0, 0, 0], [count!, -1, -1, -1]));
        const logits = vqt.logitsFromFrozen(frozen, { ...options, imageOffset: start! });
        disposeFrozen(frozen);
        return logits;
      }),
    );
    const split = tf.concat(parts);
    expect(maxAbsDiff(split, whole)).toBeLessThan(1e-6);
    const misplaced = tf.tidy(() => model.forward(tf.slice(input, [2, 0, 0, 0], [1, -1, -1, -1]), options));
    expect(maxAbsDiff(misplaced, parts[1]!)).toBeGreaterThan(1e-4);
    tf.dispose([input, whole, ...parts, split, misplaced]);
    expect(tf.memory().numTensors).toBe(before);
    model.detach(vqt);
    vqt.dispose();
    model.dispose();
  });

  it('records far less inside the gradient tape on the memory path: no backbone computation', async () => {
    const model = tinyModel();
    applyTrainablePolicy(model, 'frozen');
    const vqt = createVisualQueryTuning(model, { dropout: 0 });
    model.attach(vqt);
    const input = images();
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 5);
    const variables = vqt.trainableVariables();
    const step = (loss: () => tf.Scalar) => () => {
      const { value, grads } = tf.variableGrads(loss, variables);
      tf.dispose([value, Object.values(grads)]);
    };
    // One profile at a time: tfjs keeps a single active profile.
    const hookStep = await tf.profile(step(() => tf.losses.softmaxCrossEntropy(labels, model.forward(input)) as tf.Scalar));
    const hookKernels = hookStep.kernels.map((kernel) => ({ name: kernel.name, inputShapes: kernel.inputShapes }));
    const hookPeak = hookStep.peakBytes;
    const frozen = vqt.frozenPass(input);
    const memoryStep = await tf.profile(step(() => tf.losses.softmaxCrossEntropy(labels, vqt.logitsFromFrozen(frozen)) as tf.Scalar));
    // The patch embedding, [B*N, 3*8*8] x [3*8*8, D], is the backbone's first product: never in the memory step.
    const patchProducts = (kernels: { name: string; inputShapes: number[][] }[]) =>
      kernels.filter((kernel) => kernel.name === 'BatchMatMul' && kernel.inputShapes[0]?.[1] === 3 * 8 * 8).length;
    expect(patchProducts(hookKernels)).toBeGreaterThan(0);
    expect(patchProducts(memoryStep.kernels)).toBe(0);
    expect(memoryStep.peakBytes).toBeLessThan(hookPeak);
    tf.dispose([input, labels]);
    disposeFrozen(frozen);
    model.detach(vqt);
    vqt.dispose();
    model.dispose();
  });

  it('composes: on a backbone with prompts, keys and values include the prompts and both paths agree', () => {
    const model = tinyModel();
    const prompts = promptsAfterCls();
    model.attach(prompts);
    const vqt = createVisualQueryTuning(model, { dropout: 0 });
    model.attach(vqt);
    const input = images();
    const frozen = vqt.frozenPass(input);
    expect(frozen.keysValues[1]!.keys.shape).toEqual([3, 4, 20, 8]);
    const [hook, memory] = [model.forward(input), vqt.logitsFromFrozen(frozen)];
    expect(maxAbsDiff(memory, hook)).toBe(0);
    tf.dispose([input, hook, memory, prompts.prompts]);
    disposeFrozen(frozen);
    [vqt, prompts].forEach((extension) => model.detach(extension));
    vqt.dispose();
    model.dispose();
  });

  it('reports each group’s importance, the mean over its features of their head-weight L2 norms (VQT Sec. 4.5, Figure 4)', () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model, { numQueries: [1, 2] });
    const { weight } = vqt.headVariables();
    // Every feature's row holds one value over the 5 classes: its norm is that value times sqrt(5).
    const rows = [...new Array(32).fill(1), ...new Array(32).fill(-2), ...new Array(64).fill(3)];
    tf.tidy(() => weight.assign(tf.tile(tf.tensor2d(rows, [128, 1]), [1, 5])));
    [1, 2, 3].forEach((value, group) => expect(vqt.groupImportance()[group]).toBeCloseTo(value * Math.sqrt(5), 5));
    // A row's norm, not its mean |w|: one class at 5 (norm 5, mean |w| 1) beside rows of 1s (norm sqrt(5), mean |w| 1).
    tf.tidy(() => weight.assign(tf.concat([tf.tensor2d([[5, 0, 0, 0, 0]]), tf.ones([127, 5])])));
    const [cls, block0, block1] = vqt.groupImportance();
    expect(cls).toBeCloseTo((5 + 31 * Math.sqrt(5)) / 32, 5);
    expect([block0, block1].map((value) => value! / Math.sqrt(5))).toEqual([expect.closeTo(1, 5), expect.closeTo(1, 5)]);
    vqt.dispose();
    model.dispose();
  });

  it('trainingForward(): the frozen pass in prepare, off the tape, and the query path in logits give the model’s training logits and gradients, drop path included', () => {
    const model = tinyModel({ ...TINY_VIT, dropPathRate: 0.3 });
    const vqt = createVisualQueryTuning(model, { numQueries: [2, 1], dropout: 0.2 });
    model.attach(vqt);
    const input = images();
    const labels = tf.oneHot(tf.tensor1d([0, 3, 4], 'int32'), 5);
    const context: ForwardPassContext = { training: true, seed: 6, epoch: 0, globalStep: 0, imageOffset: 2, recompute: false };
    const options = { training: true, seed: 6, imageOffset: 2 };
    const forward = vqt.trainingForward();
    const before = tf.memory().numTensors;
    const prepared = forward.prepare!(input, context);
    const variables = vqt.trainableVariables();
    const split = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, forward.logits(input, context, prepared)) as tf.Scalar, variables);
    const whole = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.forward(input, options)) as tf.Scalar, variables);
    expect(maxAbsDiff(split.value, whole.value)).toBe(0);
    for (const variable of variables) expect(maxAbsDiff(split.grads[variable.name]!, whole.grads[variable.name]!)).toBeLessThan(1e-6);
    // The drop path of the frozen pass follows the step's seed: another seed gives other logits.
    const [unprepared, reseeded, plain] = tf.tidy(() => [
      forward.logits(input, context, undefined),
      forward.logits(input, { ...context, seed: 7 }, undefined),
      model.forward(input, options),
    ]);
    expect(maxAbsDiff(unprepared, plain)).toBe(0);
    expect(maxAbsDiff(reseeded, plain)).toBeGreaterThan(1e-4);
    // The deprecated wrapper is the same step.
    const legacy = queryTrainingForward(vqt);
    const legacyFrozen = legacy.prepare(input, options);
    const legacyLogits = legacy.logits(input, options, legacyFrozen);
    expect(maxAbsDiff(legacyLogits, plain)).toBe(0);
    disposeFrozen(legacyFrozen);
    disposeFrozen(prepared as unknown as FrozenFeatures);
    tf.dispose([split.value, whole.value, Object.values(split.grads), Object.values(whole.grads), unprepared, reseeded, plain, legacyLogits]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([input, labels]);
    model.detach(vqt);
    vqt.dispose();
    model.dispose();
  });

  it('reports groupImportance as its diagnostics, blocks per block and CLS as a scalar, with and without a feature selection; the deprecated blockImportance is the blocks’ shares', () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model, { numQueries: [1, 2] });
    const rows = [...new Array(32).fill(1), ...new Array(32).fill(2), ...new Array(64).fill(3)];
    tf.tidy(() => vqt.headVariables().weight.assign(tf.tile(tf.tensor2d(rows, [128, 1]), [1, 5])));
    const records = vqt.diagnostics();
    expect(records.map((record) => `${record.kind}:${record.name}`)).toEqual(['per-block:query-importance', 'scalar:cls-importance']);
    records.forEach((record) => expect(record.title).toMatch(/VQT, Sec. 4.5, Figure 4/));
    const [blocks, cls] = records;
    expect(blocks).toMatchObject({ firstBlock: 0 });
    expect(blocks!.kind === 'per-block' ? blocks!.values : []).toEqual([expect.closeTo(2 * Math.sqrt(5), 5), expect.closeTo(3 * Math.sqrt(5), 5)]);
    expect(cls!.kind === 'scalar' ? cls!.value : null).toBeCloseTo(Math.sqrt(5), 5);
    expect(vqt.blockImportance()).toEqual([expect.closeTo(0.4, 6), expect.closeTo(0.6, 6)]);
    // Kept features 0 (CLS), 40 (block 0), 100 and 101 (block 1), row norms 5, 5, 3 and 4, averaged over
    // every feature of the group (32, 32 and 64), the dropped ones at zero.
    const weight = tf.tensor2d([[5, 0, 0, 0, 0], [0, 5, 0, 0, 0], [0, 0, 3, 0, 0], [0, 0, 0, 4, 0]]);
    const bias = tf.zeros([5]) as tf.Tensor1D;
    vqt.selectFeatures(Int32Array.from([0, 40, 100, 101]), { weight, bias });
    const groups = vqt.groupImportance();
    [5 / 32, 5 / 32, 7 / 64].forEach((expected, group) => expect(groups[group]).toBeCloseTo(expected, 6));
    const [selectedBlocks, selectedCls] = vqt.diagnostics();
    expect(selectedBlocks!.kind === 'per-block' ? selectedBlocks!.values : []).toEqual(groups.slice(1));
    expect(selectedCls!.kind === 'scalar' ? selectedCls!.value : null).toBe(groups[0]);
    expect(vqt.blockImportance()).toEqual([expect.closeTo(10 / 17, 6), expect.closeTo(7 / 17, 6)]);
    tf.dispose([weight, bias]);
    vqt.dispose();
    model.dispose();
  });

  it('refuses missing, unexpected and wrong-shaped weights in one CheckpointMismatchError, and bad feature indices in a ShapeError, writing nothing', () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model, { numQueries: [1, 2] });
    const saved = vqt.weights();
    const query = () => Array.from(vqt.trainableVariables()[0]!.dataSync());
    const original = query();
    const load = (changes: [string, tf.Tensor | null][]) => {
      const weights = new Map(saved);
      for (const [name, value] of changes) {
        if (value === null) weights.delete(name);
        else weights.set(name, value);
      }
      return () => vqt.loadWeights(weights);
    };
    const [wrongQuery, wrongHead, floatFeatures, features, badFeatures, narrowHead] = [
      tf.zeros([1, 2, 32]),
      tf.zeros([5, 97]),
      tf.tensor1d([0, 1, 2]),
      tf.tensor1d([0, 1, 2], 'int32'),
      tf.tensor1d([2, 1, 0], 'int32'),
      tf.zeros([5, 3]),
    ];
    expect(load([['blocks.0.queries', wrongQuery], ['head.bias', null]])).toThrow(
      'vqt weights does not fit the model: missing keys: head.bias; wrong shapes: blocks.0.queries expected [1, 1, 32] found [1, 2, 32]',
    );
    expect(load([['head.weight', wrongHead]])).toThrow(CheckpointMismatchError);
    expect(load([['head.features', floatFeatures], ['head.weight', narrowHead]])).toThrow('wrong dtypes: head.features expected int32 found float32');
    // Three kept features need a head of three inputs: [5, 3] in PyTorch's layout.
    expect(load([['head.features', features]])).toThrow('head.weight expected [5, 3] found [5, 128]');
    expect(load([['head.features', badFeatures], ['head.weight', narrowHead]])).toThrow(ShapeError);
    expect(query()).toEqual(original);
    expect(vqt.selectedFeatures()).toBeNull();
    load([['head.features', features], ['head.weight', narrowHead], ['blocks.0.queries', tf.keep(tf.onesLike(saved.get('blocks.0.queries')!))]])();
    expect(Array.from(vqt.selectedFeatures()!)).toEqual([0, 1, 2]);
    expect(vqt.headVariables().weight.shape).toEqual([3, 5]);
    expect(query()).toEqual(new Array(32).fill(1));
    expect(() => vqt.selectFeatures(Int32Array.from([0, 1]), { weight: tf.zeros([3, 5]) as tf.Tensor2D, bias: tf.zeros([5]) as tf.Tensor1D })).toThrow(
      'VQT head does not fit the model: wrong shapes: weight expected [2, 5] found [3, 5]',
    );
    tf.dispose([...saved.values(), wrongQuery, wrongHead, floatFeatures, features, badFeatures, narrowHead]);
    vqt.dispose();
    model.dispose();
  });

  it('draws its queries and head from seeds per config seed and variable', () => {
    const model = tinyModel();
    const values = (seed: number) => {
      const vqt = createVisualQueryTuning(model, { numQueries: 1, seed });
      const [block0, block1, head] = vqt.trainableVariables().map((variable) => Array.from(variable.dataSync()));
      vqt.dispose();
      return { block0: block0!, block1: block1!, head: head! };
    };
    const [a, again, other] = [values(0), values(0), values(1)];
    expect(again).toEqual(a);
    expect(other.block0).not.toEqual(a.block0);
    expect(other.head).not.toEqual(a.head);
    expect(a.block1).not.toEqual(a.block0);
    model.dispose();
  });

  it('validates its options by field', () => {
    const backbone = { depth: 12, numClasses: 100 };
    expect(resolveVisualQueryConfig({}, backbone)).toEqual({ numQueries: new Array(12).fill(1), dropout: 0.1, numClasses: 100, seed: 0 });
    expect(() => resolveVisualQueryConfig({ numQueries: [1, 2] }, backbone)).toThrow(/numQueries must give one value or one per block \(12 blocks\), got \[1, 2\]/);
    expect(() => resolveVisualQueryConfig({ numQueries: 0 }, backbone)).toThrow(/numQueries must hold positive integers, got 0/);
    expect(() => resolveVisualQueryConfig({ dropout: 1 }, backbone)).toThrow(/^dropout must be a finite number in \[0, 1\), got 1$/);
    expect(() => resolveVisualQueryConfig({}, { depth: 12, numClasses: 0 })).toThrow(/^numClasses must be set: the backbone's head has no classes, got undefined$/);
    expect(() => resolveVisualQueryConfig({ numClasses: 2.5 }, backbone)).toThrow(/^numClasses must be an integer >= 1, got 2.5$/);
    expect(() => resolveVisualQueryConfig({ seed: 0.5 }, backbone)).toThrow(/^seed must be an integer, got 0.5$/);
    expect(() => resolveVisualQueryConfig({ queries: 2 } as never, backbone)).toThrow(/^vqt.queries is not an option \(options: numQueries, dropout, numClasses, seed\), got 2$/);
  });
});

describe('group-lasso compression', () => {
  /** 20 images of 5 classes whose labels depend on the mean brightness of the image. */
  const source: BatchSource = async function* () {
    const count = 20;
    const data = new Float32Array(count * 3 * 32 * 32);
    const labels = Int32Array.from({ length: count }, (_, i) => i % 5);
    const noise = tf.tidy(() => tf.randomNormal([count * 3 * 32 * 32], 0, 1, 'float32', 4).dataSync());
    labels.forEach((label, image) => {
      for (let p = 0; p < 3 * 32 * 32; p++) data[image * 3072 + p] = noise[image * 3072 + p]! + label;
    });
    yield { images: data.subarray(0, 10 * 3072), labels: labels.subarray(0, 10), shape: [10, 3, 32, 32] as const };
    yield { images: data.subarray(10 * 3072), labels: labels.subarray(10), shape: [10, 3, 32, 32] as const };
  };

  it('keeps the top fraction of features by head-weight norm, installs a head on them, deterministically', async () => {
    const run = async () => {
      const model = tinyModel();
      const vqt = createVisualQueryTuning(model);
      model.attach(vqt);
      const result = await compressWithGroupLasso(vqt, source, { epochs: 20, learningRate: 1e-2, penalty: 1e-3, batchSize: 8 });
      const input = images();
      const logits = tf.tidy(() => Array.from(model.forward(input).dataSync()));
      const saved = vqt.weights();
      const reloaded = createVisualQueryTuning(model);
      reloaded.loadWeights(saved);
      model.detach(vqt);
      model.attach(reloaded);
      const reloadedLogits = tf.tidy(() => Array.from(model.forward(input).dataSync()));
      tf.dispose([input, ...saved.values()]);
      model.detach(reloaded);
      [vqt, reloaded].forEach((method) => method.dispose());
      model.dispose();
      return { result, logits, reloadedLogits };
    };
    const before = tf.memory().numTensors;
    const first = await run();
    expect(tf.memory().numTensors).toBe(before);
    expect(first.result.featuresBefore).toBe(96);
    expect(first.result.featuresAfter).toBe(67);
    const kept = Array.from(first.result.kept);
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    // Every dropped feature's weight norm is at most every kept one's.
    const norms = first.result.featureNorms;
    const dropped = Array.from({ length: 96 }, (_, i) => i).filter((i) => !kept.includes(i));
    expect(Math.max(...dropped.map((i) => norms[i]!))).toBeLessThanOrEqual(Math.min(...kept.map((i) => norms[i]!)));
    expect(first.reloadedLogits).toEqual(first.logits);
    const second = await run();
    expect(Array.from(second.result.kept)).toEqual(kept);
    expect(second.logits).toEqual(first.logits);
  });

  it('rejects bad options by field', async () => {
    const model = tinyModel();
    const vqt = createVisualQueryTuning(model);
    await expect(compressWithGroupLasso(vqt, source, { keepFraction: 0 })).rejects.toThrow(/^keepFraction must be a finite number in \(0, 1\], got 0$/);
    await expect(compressWithGroupLasso(vqt, source, { epochs: 0 })).rejects.toThrow(/^epochs must be an integer >= 1, got 0$/);
    await expect(compressWithGroupLasso(vqt, source, { batchSize: 2.5 })).rejects.toThrow(/^batchSize must be an integer >= 1, got 2.5$/);
    await expect(compressWithGroupLasso(vqt, source, { penalty: -1 })).rejects.toThrow(/^penalty must be a finite number >= 0, got -1$/);
    await expect(compressWithGroupLasso(vqt, source, { learningRate: 0 })).rejects.toThrow(/^learningRate must be a finite number > 0, got 0$/);
    vqt.dispose();
    model.dispose();
  });
});

describeMethodContract([
  { name: 'vqt one query per block', declared: { definition: VQT_DEFINITION, options: {} }, policy: 'frozen', expectedParameters: 64 },
  { name: 'vqt per-block query counts, no dropout', declared: { definition: VQT_DEFINITION, options: { numQueries: [3, 1], dropout: 0 } }, policy: 'frozen', expectedParameters: 128 },
]);

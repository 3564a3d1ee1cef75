/**
 * The custom-gradient ops against (a) central finite differences and (b) the plain-tape
 * compositions of stock tfjs ops they replace, kept here only as the reference; then a whole tiny
 * ViT against the same compositions, and what the forward pass keeps for the backward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Block, LayerNorm, Linear } from './block';
import { ShapeError } from './errors';
import { attention, dropPath, gelu, layerNorm, linear, reshape, residualAdd } from './ops';
import { perImageUniform, randomSite } from './per-image-random';

const DROP_SITE = [randomSite('test/drop-path'), 0];
import { applyTrainablePolicy } from './trainable';
import { VisionTransformer } from './vision-transformer';

// ---- The plain-tape compositions the ops replace (the reference; not a production path). ----

const stock = {
  layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gamma), beta);
  },
  gelu(x: tf.Tensor): tf.Tensor {
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  },
  linear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
    const product = tf.matMul(x, weight);
    return bias === null ? product : tf.add(product, bias);
  },
  attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: number | tf.Tensor): tf.Tensor {
    return tf.matMul(tf.softmax(tf.matMul(tf.mul(q, scale), k, false, true)), v);
  },
  dropPath(x: tf.Tensor3D, rate: number, seed: number): tf.Tensor {
    const keep = 1 - rate;
    const noise = perImageUniform({ seed, imageOffset: 0 }, DROP_SITE, [x.shape[0], 1, 1]);
    return tf.mul(x, tf.div(tf.floor(tf.add(noise, keep)), keep));
  },
};

function stockLinearLayer(x: tf.Tensor, layer: Linear): tf.Tensor {
  const rows = tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
  const y = stock.linear(rows, layer.weight.variable, layer.bias?.variable ?? null);
  return tf.reshape(y, [...x.shape.slice(0, -1), y.shape[1]!]);
}

function stockNorm(x: tf.Tensor, norm: LayerNorm): tf.Tensor {
  return stock.layerNorm(x, norm.weight.variable, norm.bias.variable, norm.eps);
}

function stockBlock(block: Block, x: tf.Tensor3D, extraScale: tf.Tensor | null): tf.Tensor3D {
  const [batch, tokens, dim] = x.shape;
  const qkv = stockLinearLayer(stockNorm(x, block.norm1), block.qkv);
  const perHead = tf.transpose(tf.reshape(qkv, [batch, tokens, 3 * block.numHeads, block.headDim]), [0, 2, 1, 3]);
  const [q, k, v] = tf.split(perHead, 3, 1);
  const base = 1 / Math.sqrt(block.headDim);
  const mixed = stock.attention(q!, k!, v!, extraScale === null ? base : tf.mul(extraScale, base));
  const merged = tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [batch, tokens, dim]);
  const stream = tf.add(x, stockLinearLayer(merged, block.proj));
  const hidden = stock.gelu(stockLinearLayer(stockNorm(stream, block.norm2), block.fc1));
  return tf.add(stream, stockLinearLayer(hidden, block.fc2)) as tf.Tensor3D;
}

/** The whole ViT (CLS pooling) in stock ops, each block in its own tidy as the model runs them. */
function stockForward(model: VisionTransformer, images: tf.Tensor4D, temperatures: tf.Tensor | null): tf.Tensor {
  const { patchSize: p, inChans: channels, embedDim: dim, imgSize } = model.config;
  const [rows, columns] = [imgSize[0] / p, imgSize[1] / p];
  const batch = images.shape[0];
  const withinRows = tf.transpose(tf.reshape(images, [batch * channels * rows, p, columns, p]), [0, 2, 1, 3]);
  const patches = tf.transpose(tf.reshape(withinRows, [batch, channels, rows * columns, p * p]), [0, 2, 1, 3]);
  const flat = tf.reshape(patches, [batch * rows * columns, channels * p * p]);
  const embedded = tf.reshape(stockLinearLayer(flat, model.patchEmbed), [batch, rows * columns, dim]);
  const cls = tf.broadcastTo(model.clsToken!.variable, [batch, 1, dim]);
  let tokens = tf.add(tf.concat([cls, embedded], 1), model.posEmbed.variable) as tf.Tensor3D;
  for (const block of model.blocks) {
    const input = tokens;
    tokens = tf.tidy(() => stockBlock(block, input, temperatures === null ? null : blockScale(temperatures, block.index)));
  }
  const features = stockNorm(tokens, model.norm!);
  const pooled = tf.squeeze(tf.slice(features, [0, 0, 0], [-1, 1, -1]), [1]);
  return stockLinearLayer(pooled, model.head!);
}

// ---- Helpers ----

/** max |actual - expected| / max |expected|. */
function relativeError(actual: tf.Tensor, expected: tf.Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  return tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(actual, expected))), tf.max(tf.abs(expected))).dataSync()[0]!);
}

const randn = (shape: number[], seed: number, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);

/** sum(op(inputs) * probe): a scalar whose gradient reaches every output element with its own weight. */
function probeLoss(output: tf.Tensor, seed: number): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(output, randn(output.shape, seed))));
}

/** Gradients of `loss` for every trainable variable in `inputs`, by variable name. */
function gradients(loss: () => tf.Scalar, inputs: readonly tf.Variable[]): Record<string, tf.Tensor> {
  const { value, grads } = tf.variableGrads(loss, [...inputs]);
  value.dispose();
  return Object.fromEntries(Object.entries(grads).filter((entry): entry is [string, tf.Tensor] => entry[1] !== null));
}

/**
 * Central differences of `loss` along a random unit direction per trainable input, against the
 * analytic directional derivative. float32 throughout, step 1e-2: the truncation error
 * (h^2 |f'''| / 6) and the rounding error (the loss's float32 rounding, about 1e-6, over 2h) are
 * each about 1e-5 to 5e-5 for these O(1) inputs (the largest difference seen here is 5.8e-5), so
 * the bound is 3e-4 absolute plus 3e-4 relative.
 */
function expectFiniteDifferences(loss: () => tf.Scalar, inputs: readonly tf.Variable[], analytic: Record<string, tf.Tensor>): void {
  const step = 1e-2;
  inputs.forEach((variable, index) => {
    if (!variable.trainable) return;
    const direction = tf.tidy(() => {
      const raw = randn(variable.shape, 500 + index);
      return tf.div(raw, tf.norm(raw));
    });
    const original = variable.clone();
    const at = (sign: number) => {
      tf.tidy(() => variable.assign(tf.add(original, tf.mul(direction, sign * step))));
      return tf.tidy(() => loss().dataSync()[0]!);
    };
    const numeric = (at(1) - at(-1)) / (2 * step);
    variable.assign(original);
    const exact = tf.tidy(() => tf.sum(tf.mul(analytic[variable.name]!, direction)).dataSync()[0]!);
    expect(Math.abs(numeric - exact), `input ${index}`).toBeLessThanOrEqual(3e-4 + 3e-4 * Math.abs(exact));
    tf.dispose([direction, original]);
  });
}

/**
 * Checks one op: the same trainable inputs get gradients from the op and from its stock
 * composition, equal within 1e-5 relative, and the op's agree with finite differences.
 */
function checkOp(
  op: (...inputs: tf.Tensor[]) => tf.Tensor,
  reference: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: readonly tf.Variable[],
): void {
  const before = tf.memory().numTensors;
  const loss = (f: typeof op) => () => probeLoss(f(...inputs), 99);
  const lean = gradients(loss(op), inputs);
  const plain = gradients(loss(reference), inputs);
  const trainable = inputs.filter((input) => input.trainable).map((input) => input.name);
  expect(Object.keys(lean).sort()).toEqual([...trainable].sort());
  expect(Object.keys(plain).sort()).toEqual([...trainable].sort());
  for (const name of trainable) expect(relativeError(lean[name]!, plain[name]!), name).toBeLessThan(1e-5);
  expectFiniteDifferences(loss(op), inputs, lean);
  tf.dispose([Object.values(lean), Object.values(plain)]);
  expect(tf.memory().numTensors).toBe(before);
}

/**
 * Bytes the forward pass of `op` keeps for the backward pass beyond its output, under a tape
 * (inputs are live variables, so keeping one costs nothing).
 */
function keptBytes(op: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: readonly tf.Variable[]): number {
  let kept = Number.NaN;
  const grads = gradients(() => {
    const before = tf.memory().numBytes;
    const output = op(...inputs);
    kept = tf.memory().numBytes - before - output.size * 4;
    return tf.sum(output);
  }, inputs);
  tf.dispose(Object.values(grads));
  return kept;
}

/**
 * Bytes of the distinct buffers the active tape keeps for the backward pass (a kept clone shares
 * its original's buffer, which tf.memory().numBytes counts again), weights excluded.
 */
function tapeBytes(): number {
  const { activeTape, registeredVariables } = tf.engine().state;
  const weights = new Set(Object.values(registeredVariables).map((weight) => weight.dataId));
  const buffers = new Map<object, number>();
  for (const node of activeTape) for (const tensor of node.saved ?? []) if (!weights.has(tensor.dataId)) buffers.set(tensor.dataId, tensor.size * 4);
  return [...buffers.values()].reduce((total, bytes) => total + bytes, 0);
}

/** A variable of the value `make` computes, in a tidy that frees everything but the variable. */
const variable = (make: () => tf.Tensor, trainable = true) => tf.tidy(() => tf.variable(make(), trainable));

describe('custom-gradient ops', () => {
  let variables: tf.Variable[] = [];
  let tensorsBefore: number;
  const track = (...list: tf.Variable[]) => {
    variables.push(...list);
    return list;
  };
  beforeEach(() => {
    tensorsBefore = tf.memory().numTensors;
  });
  afterEach(() => {
    tf.dispose(variables);
    variables = [];
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('layerNorm: dx, dgamma, dbeta; keeps x̂ and 1/sigma only', () => {
    const inputs = track(variable(() => randn([2, 3, 8], 1, 2)), variable(() => tf.add(randn([8], 2, 0.3), 1)), variable(() => randn([8], 3, 0.3)));
    const op = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6);
    const reference = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => stock.layerNorm(x, g, b, 1e-6);
    checkOp(op, reference, inputs);
    // x̂ [2, 3, 8], 1/sigma [2, 3, 1] and gamma [8]; the stock composition keeps x, centered,
    // centered^2, normed and more, each [2, 3, 8].
    expect(keptBytes(op, inputs)).toBe((48 + 6 + 8) * 4);
    expect(keptBytes(reference, inputs)).toBeGreaterThanOrEqual(4 * 48 * 4);
  });

  it('layerNorm with a frozen gain and shift gives dx alone', () => {
    const inputs = track(variable(() => randn([4, 6], 4, 2)), variable(() => tf.add(randn([6], 5, 0.3), 1), false), variable(() => randn([6], 6, 0.3), false));
    checkOp(
      (x, g, b) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
      (x, g, b) => stock.layerNorm(x, g!, b!, 1e-5),
      inputs,
    );
  });

  it('gelu (exact erf form) keeps nothing but its input', () => {
    const inputs = track(variable(() => randn([3, 10], 7, 1.5)));
    checkOp((x) => gelu(x), (x) => stock.gelu(x), inputs);
    expect(keptBytes((x) => gelu(x), inputs)).toBe(30 * 4);
    expect(keptBytes((x) => stock.gelu(x), inputs)).toBeGreaterThanOrEqual(5 * 30 * 4);
  });

  it('linear with a trainable weight and bias: dx, dW, db', () => {
    const inputs = track(variable(() => randn([5, 4], 8)), variable(() => randn([4, 3], 9, 0.5)), variable(() => randn([3], 10)));
    const op = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D);
    checkOp(op, (x, w, b) => stock.linear(x, w!, b!), inputs);
    // x [5, 4] and W [4, 3]; the stock composition also keeps the product before the bias add (and
    // matMul's internal reshapes keep their inputs).
    expect(keptBytes(op, inputs)).toBe((20 + 12) * 4);
    expect(keptBytes((x, w, b) => stock.linear(x, w!, b!), inputs)).toBeGreaterThanOrEqual((20 + 12 + 15) * 4);
  });

  it('linear with a frozen weight and bias: dx only, and x is not kept', () => {
    const inputs = track(variable(() => randn([5, 4], 11)), variable(() => randn([4, 3], 12, 0.5), false), variable(() => randn([3], 13), false));
    checkOp((x, w, b) => linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D), (x, w, b) => stock.linear(x, w!, b!), inputs);
    // Under a tape that records, x stays alive only if the op kept it: give the op a fresh x.
    const kept = (op: (x: tf.Tensor) => tf.Tensor) => keptBytes((x) => tf.tidy(() => op(tf.neg(tf.neg(x)))), inputs);
    expect(kept((x) => linear(x as tf.Tensor2D, inputs[1] as tf.Tensor2D, inputs[2] as tf.Tensor1D))).toBe(0);
    expect(kept((x) => stock.linear(x, inputs[1]!, inputs[2]!))).toBeGreaterThanOrEqual((5 * 4 + 5 * 3) * 4);
  });

  it('linear with a frozen weight and a trainable bias (BitFit), and without a bias', () => {
    const inputs = track(variable(() => randn([5, 4], 14)), variable(() => randn([4, 3], 15, 0.5), false), variable(() => randn([3], 16)));
    checkOp((x, w, b) => linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D), (x, w, b) => stock.linear(x, w!, b!), inputs);
    const noBias = track(variable(() => randn([5, 4], 17)), variable(() => randn([4, 3], 18, 0.5)));
    checkOp((x, w) => linear(x as tf.Tensor2D, w as tf.Tensor2D, null), (x, w) => stock.linear(x, w!, null), noBias);
  });

  it('attention with a number scale and Tq != Tk: dq, dk, dv; keeps the probabilities beyond q, k, v', () => {
    const inputs = track(variable(() => randn([2, 2, 3, 4], 19)), variable(() => randn([2, 2, 5, 4], 20)), variable(() => randn([2, 2, 5, 4], 21)));
    const op = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 0.7);
    const reference = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => stock.attention(q, k, v, 0.7);
    checkOp(op, reference, inputs);
    // q [2, 2, 3, 4], k and v [2, 2, 5, 4] and P [2, 2, 3, 5]; the stock composition also keeps
    // q * scale, and P twice (softmax's output and the product's operand), and more.
    expect(keptBytes(op, inputs)).toBe((48 + 80 + 80 + 60) * 4);
    expect(keptBytes(reference, inputs)).toBeGreaterThanOrEqual((48 + 48 + 80 + 60 + 60 + 80) * 4);
  });

  it('attention with a trainable scalar scale tensor gives the scale its gradient', () => {
    const inputs = track(
      variable(() => randn([1, 3, 4, 2], 22)),
      variable(() => randn([1, 3, 4, 2], 23)),
      variable(() => randn([1, 3, 4, 2], 24)),
      variable(() => tf.scalar(0.8)),
    );
    checkOp(
      (q, k, v, s) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, s!),
      (q, k, v, s) => stock.attention(q, k!, v!, s!),
      inputs,
    );
  });

  it('reshape and residualAdd pass dy through; dropPath scales it by the kept mask', () => {
    const inputs = track(variable(() => randn([4, 2, 3], 25)), variable(() => randn([4, 2, 3], 26)));
    checkOp((a) => reshape(a, [4, 6]), (a) => tf.reshape(a, [4, 6]), inputs.slice(0, 1));
    checkOp((a, b) => residualAdd(a, b), (a, b) => tf.add(a, b), inputs);
    // Rate 0.5 over 4 samples with seed 4 keeps samples 0 and 2 and drops 1 and 3 (asserted below).
    const drop = (x: tf.Tensor) => dropPath(x as tf.Tensor3D, 0.5, { training: true, seed: 4, imageOffset: 0 }, DROP_SITE);
    checkOp(drop, (x) => stock.dropPath(x as tf.Tensor3D, 0.5, 4), inputs.slice(0, 1));
    const dropped = tf.tidy(() => tf.sum(tf.abs(drop(inputs[0]!)), [1, 2]).arraySync() as number[]);
    expect(dropped.some((value) => value === 0) && dropped.some((value) => value > 0)).toBe(true);
    // Nothing kept for reshape and residualAdd (the stock ones keep their inputs); for drop path
    // only the [4, 1, 1] mask and its draw's scalars.
    expect(keptBytes((a, b) => residualAdd(a, b), inputs)).toBe(0);
    expect(keptBytes((a, b) => tf.add(a, b), inputs)).toBe(2 * 24 * 4);
    expect(keptBytes((a) => reshape(a, [4, 6]), inputs.slice(0, 1))).toBe(0);
    expect(keptBytes((a) => tf.reshape(a, [4, 6]), inputs.slice(0, 1))).toBe(24 * 4);
    expect(keptBytes(drop, inputs.slice(0, 1))).toBeLessThanOrEqual(3 * 4 * 4 + 2 * 4);
  });

  it('refuses inputs of the wrong shapes with a ShapeError naming them', () => {
    const x = tf.zeros([2, 4]);
    const tidyThrows = (f: () => unknown) => () => tf.tidy(() => void f());
    expect(tidyThrows(() => layerNorm(x, tf.ones([3]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 1e-6))).toThrow(ShapeError);
    expect(tidyThrows(() => layerNorm(x, tf.ones([3]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 1e-6))).toThrow(/gamma must be \[4\] .* got \[3\]/);
    expect(tidyThrows(() => linear(x as tf.Tensor2D, tf.zeros([3, 2]) as tf.Tensor2D, null))).toThrow(/got x \[2, 4\] and weight \[3, 2\]/);
    expect(tidyThrows(() => linear(x as tf.Tensor2D, tf.zeros([4, 2]) as tf.Tensor2D, tf.zeros([3]) as tf.Tensor1D))).toThrow(/bias must be \[2\].*got \[3\]/);
    const q = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    expect(tidyThrows(() => attention(q, tf.zeros([1, 2, 5, 3]) as tf.Tensor4D, tf.zeros([1, 2, 5, 4]) as tf.Tensor4D, 1))).toThrow(ShapeError);
    expect(tidyThrows(() => attention(q, q, q, tf.ones([2])))).toThrow(/scale must be a number or a one-element tensor, got \[2\]/);
    expect(tidyThrows(() => residualAdd(x, tf.zeros([4, 2])))).toThrow(/got \[2, 4\] and \[4, 2\]/);
    tf.dispose([x, q]);
  });
});

// ---- The whole model ----

const TINY = { imgSize: 16, patchSize: 4, embedDim: 16, depth: 2, numHeads: 2, numClasses: 5 } as const;

/** Weights at the scale of a trained model (timm's init is tiny): N(0, 0.2), LayerNorm gains near 1. */
function trainedScaleModel(config: object, seed: number): VisionTransformer {
  const model = new VisionTransformer(config, { seed });
  model.parameters.forEach((parameter, index) => {
    const isGain = /norm\d?\.weight$/.test(parameter.key);
    tf.tidy(() => {
      const noise = randn(parameter.variable.shape, seed * 100 + index, isGain ? 0.1 : 0.2);
      parameter.variable.assign(isGain ? tf.add(noise, 1) : noise);
    });
  });
  return model;
}

/** Block i's attention-logit multiplier: element i of a learned [depth] vector (as GatedPT keeps its temperatures). */
function blockScale(temperatures: tf.Tensor, index: number): tf.Scalar {
  return tf.reshape(tf.slice(temperatures, [index], [1]), []);
}

describe('the whole model under the lean ops', () => {
  it('gives every weight of a fully trainable tiny ViT the plain-tape gradient (1e-5 relative)', () => {
    const before = tf.memory().numTensors;
    const model = trainedScaleModel(TINY, 31);
    applyTrainablePolicy(model, 'full');
    const images = randn([2, 3, 16, 16], 32) as tf.Tensor4D;
    const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([1, 4], 'int32'), 5));
    const variables = model.parameters.map((parameter) => parameter.variable);
    const loss = (forward: () => tf.Tensor) => () => tf.losses.softmaxCrossEntropy(labels, forward()) as tf.Scalar;
    const lean = gradients(loss(() => model.forward(images)), variables);
    const plain = gradients(loss(() => stockForward(model, images, null)), variables);
    expect(Object.keys(lean).length).toBe(variables.length);
    for (const parameter of model.parameters) {
      expect(relativeError(lean[parameter.variable.name]!, plain[parameter.variable.name]!), parameter.key).toBeLessThan(1e-5);
    }
    tf.dispose([images, labels, Object.values(lean), Object.values(plain)]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the temperatures of a frozen backbone the plain-tape gradient, and keeps far less for the backward pass', () => {
    const before = tf.memory().numTensors;
    const config = { ...TINY, depth: 4 };
    const model = trainedScaleModel(config, 41);
    applyTrainablePolicy(model, 'frozen');
    const temperatures = variable(() => tf.tensor1d(model.blocks.map((block) => 1 + 0.1 * block.index)));
    model.attach({ name: 'temperature', attentionScale: (context) => blockScale(temperatures, context.blockIndex) });
    const [batch, images] = [2, randn([2, 3, 16, 16], 42) as tf.Tensor4D];
    const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 3], 'int32'), 5));
    const kept = { counted: Number.NaN, distinct: Number.NaN };
    const loss = (forward: () => tf.Tensor) => () => {
      const start = tf.memory().numBytes;
      const logits = forward();
      kept.counted = tf.memory().numBytes - start;
      kept.distinct = tapeBytes();
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
    const lean = gradients(loss(() => model.forward(images)), [temperatures]);
    const leanKept = { ...kept };
    const plain = gradients(loss(() => stockForward(model, images, temperatures)), [temperatures]);
    const plainKept = { ...kept };
    expect(relativeError(lean[temperatures.name]!, plain[temperatures.name]!)).toBeLessThan(1e-5);

    // What the lean design keeps per block, in float32 values: x̂ of norm1 and norm2 [B, T, D] each,
    // q, k, v [B, T, D] together each, the probabilities [B, H, T, T], the GELU input [B, T, 4D],
    // and small vectors (1/sigma [B, T, 1] and gamma [D] of both norms, the scale). Outside the
    // blocks (stock ops): the final norm's x̂, the CLS slice's input, the concat's and the position
    // add's inputs (5 [B, T, D] at most), and the logits [B, classes]. The slack, 1 KiB, is less
    // than one [B, T, D] tensor (2,176 bytes): a block keeping one more fails the bound.
    const { embedDim: dim, numHeads: heads, depth, numClasses } = config;
    const tokens = 17;
    const perBlock = batch * tokens * (2 * dim + 3 * dim + 4 * dim) + batch * heads * tokens * tokens + 2 * (batch * tokens + dim) + 1;
    const outside = 5 * batch * tokens * dim + batch * numClasses;
    const bound = (depth * perBlock + outside) * 4 + 1024;
    // Measured on the cpu backend: by tf.memory().numBytes (each kept clone counted) the lean ops
    // keep 108,784 bytes (bound 110,392) and the stock composition 942,320; counting each buffer
    // the tape keeps once, 106,936 and 540,340 bytes.
    expect(leanKept.counted).toBeLessThanOrEqual(bound);
    expect(leanKept.counted).toBeLessThan(0.2 * plainKept.counted);
    expect(leanKept.distinct).toBeLessThan(0.25 * plainKept.distinct);

    model.detach(model.extensions[0]!);
    tf.dispose([images, labels, temperatures, Object.values(lean), Object.values(plain)]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

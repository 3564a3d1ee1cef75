import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from './errors';
import type { DrawContext } from './per-image-random';
import { perImageUniform } from './per-image-random';
import { rate as checkRate } from './validate';

/*
 * Lean autograd. Under a gradient tape tfjs keeps, until the backward pass ends, whatever each
 * kernel's gradient lists: both inputs of Add, Sub and Mul, the input of Reshape, Mean, Square,
 * Rsqrt and Erf, both operands of BatchMatMul, mostly for their shapes only. The ops below are
 * `tf.customGrad` ops that keep what their own backward needs and nothing else, as PyTorch's
 * autograd does (LayerNorm: x̂ and 1/sigma; GELU: its input; attention: q, k, v and the
 * probabilities; a linear layer: its input, only when its weight gets a gradient).
 *
 * tfjs's rules for a custom op: its forward runs with the tape off; `save` keeps clones only while a
 * tape records; the gradient returns one tensor per input, of the input's exact shape, and never an
 * object it returns twice or `dy` itself (the engine disposes accumulated gradients it replaces).
 * Unlike a stock kernel's, a custom gradient computes every input's gradient, even for an input
 * the tape pruned.
 */

type Gradient = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

let savingSuspended = 0;

/**
 * Runs `f` with the ops below keeping nothing for the backward pass, though a tape records: for a
 * pass whose tape is read and then discarded (`recomputeSegment`'s first run, which only needs to
 * know what the segment reads).
 */
export function withoutSaving<T>(f: () => T): T {
  savingSuspended += 1;
  try {
    return f();
  } finally {
    savingSuspended -= 1;
  }
}

const keepNothing: tf.GradSaveFunc = () => undefined;

/** `f(x)`, then `x` freed: a forward step whose input nothing else holds. */
function then<T extends tf.Tensor>(x: tf.Tensor, f: (x: tf.Tensor) => T): T {
  const result = f(x);
  x.dispose();
  return result;
}

/**
 * Runs `forward` as one op of the tape over `inputs`. The engine calls a custom gradient inside
 * the whole backward pass's scope, where its intermediates would live until the pass ends, so
 * every gradient runs in its own tidy.
 */
function customOp<T extends tf.Tensor>(
  inputs: readonly tf.Tensor[],
  forward: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: T; gradient: Gradient },
): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = savingSuspended > 0 ? keepNothing : (args[args.length - 1] as tf.GradSaveFunc);
    const { value, gradient } = forward(args.slice(0, -1) as tf.Tensor[], save);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => gradient(dy, saved)) };
  });
  return op(...inputs) as T;
}

/**
 * Whether a weight can receive a gradient: a variable only when its `trainable` flag is set (what
 * `tf.variableGrads` differentiates); any other tensor may be computed from trainable variables.
 */
function needsGradient(tensor: tf.Tensor): boolean {
  return !(tensor instanceof tf.Variable) || tensor.trainable;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * LayerNorm over the last axis with biased variance and eps inside the square root, as
 * torch.nn.LayerNorm computes it. Keeps for the backward pass only the normalised input x̂, 1/sigma
 * ([..., 1]) and gamma ([D]): dx = (g - mean(g) - x̂ mean(g x̂)) / sigma with g = dy gamma,
 * dgamma = sum of dy x̂ and dbeta = sum of dy over every leading axis.
 */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): T {
  const dim = x.shape[x.rank - 1]!;
  for (const [name, parameter] of [['gamma', gamma], ['beta', beta]] as const) {
    if (parameter.rank !== 1 || parameter.shape[0] !== dim) {
      throw new ShapeError(`layerNorm: ${name} must be [${dim}] (the last axis of x ${shapeText(x.shape)}), got ${shapeText(parameter.shape)}`);
    }
  }
  return customOp<T>([x, gamma, beta], ([input, scale, shift], save) => {
    // Same arithmetic as before, with each [..., D] temporary freed once used (at most three live).
    const centered = tf.sub(input!, tf.mean(input!, -1, true));
    const rstd = tf.rsqrt(tf.add(then(tf.square(centered), (squares) => tf.mean(squares, -1, true)), eps));
    const normed = then(centered, (value) => tf.mul(value, rstd));
    save([normed, rstd, scale!]);
    return {
      value: then(tf.mul(normed, scale!), (scaled) => tf.add(scaled, shift!)),
      gradient: (dy, [savedNormed, savedRstd, savedScale]) => {
        const dNormed = tf.mul(dy, savedScale!);
        const projection = then(
          then(tf.mul(dNormed, savedNormed!), (products) => tf.mean(products, -1, true)),
          (mean) => tf.mul(savedNormed!, mean),
        );
        const centered = tf.sub(dNormed, tf.mean(dNormed, -1, true));
        dNormed.dispose();
        const dx = then(then(centered, (value) => tf.sub(value, projection)), (value) => tf.mul(value, savedRstd!));
        projection.dispose();
        const rows = (tensor: tf.Tensor) => tf.reshape(tensor, [-1, dim]);
        return [dx, tf.sum(rows(tf.mul(dy, savedNormed!)), 0), tf.sum(rows(dy), 0)];
      },
    };
  });
}

/**
 * GELU with the exact erf form (torch.nn.GELU default), not the tanh approximation. Keeps its input
 * only: dx = dy (Phi(x) + x phi(x)), Phi and phi the standard normal CDF and density.
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return customOp<T>([x], ([input], save) => {
    save([input!]);
    return {
      // x/2 (1 + erf(x / sqrt 2)), each [..., 4D] temporary freed once used (at most two live beside x).
      value: then(
        then(then(tf.mul(input!, Math.SQRT1_2), tf.erf), (erf) => tf.add(erf, 1)),
        (onePlusErf) => then(tf.mul(input!, onePlusErf), (product) => tf.mul(product, 0.5)),
      ),
      gradient: (dy, [saved]) => {
        // Each [..., 4D] temporary freed once used: the backward's peak stays a few of them.
        const cdf = then(then(then(tf.mul(saved!, Math.SQRT1_2), tf.erf), (erf) => tf.add(erf, 1)), (sum) => tf.mul(sum, 0.5));
        const density = then(then(then(tf.square(saved!), (squares) => tf.mul(squares, -0.5)), tf.exp), (exp) => tf.mul(exp, 1 / Math.sqrt(2 * Math.PI)));
        const slope = then(then(density, (value) => tf.mul(saved!, value)), (xDensity) => then(cdf, (value) => tf.add(value, xDensity)));
        return [then(slope, (value) => tf.mul(dy, value))];
      },
    };
  });
}

/**
 * y = x W + b on a 2-D input with W stored as [in, out]: a plain, untransposed, unbatched matrix
 * product, the one shape every tfjs backend runs at full speed (the backward uses matMul's
 * transpose flags). No fused op: a fused matmul makes the backward compute the weight's gradient
 * even when the weight is frozen.
 *
 * The weight is an input of the op, and x is kept for its gradient, only when the weight can get a
 * gradient (a trainable variable, or a tensor that is not a variable); a frozen weight is a
 * constant for the tape and nothing is kept (dx = dy W^T needs W alone). The bias is an input only
 * when it can get a gradient (BitFit trains the biases of frozen weights); its gradient, the sum of
 * dy over rows, needs nothing kept.
 */
export function linear(x: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D | null): tf.Tensor2D {
  if (x.rank !== 2 || weight.rank !== 2 || x.shape[1] !== weight.shape[0]) {
    throw new ShapeError(`linear: x must be [rows, in] and weight [in, out], got x ${shapeText(x.shape)} and weight ${shapeText(weight.shape)}`);
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== weight.shape[1])) {
    throw new ShapeError(`linear: bias must be [${weight.shape[1]}] (the weight's out), got ${shapeText(bias.shape)}`);
  }
  const trainWeight = needsGradient(weight);
  const trainBias = bias !== null && needsGradient(bias);
  const inputs = [x, ...(trainWeight ? [weight] : []), ...(trainBias ? [bias] : [])];
  return customOp<tf.Tensor2D>(inputs, (args, save) => {
    const rows = args[0]!;
    const matrix = trainWeight ? args[1]! : weight;
    if (trainWeight) save([rows, matrix]);
    const product: tf.Tensor2D = tf.matMul(rows, matrix);
    const shift = trainBias ? args[args.length - 1]! : bias;
    return {
      value: shift === null ? product : tf.add<tf.Tensor2D>(product, shift),
      gradient: (dy, saved) => {
        const grads = [tf.matMul(dy, trainWeight ? saved[1]! : weight, false, true)];
        if (trainWeight) grads.push(tf.matMul(saved[0]!, dy, true, false));
        if (trainBias) grads.push(tf.sum(dy, 0));
        return grads;
      },
    };
  });
}

/**
 * The attention core softmax(q k^T * scale) v for queries [B, H, Tq, dh] and keys and values
 * [B, H, Tk, dh] (Tq may differ from Tk: query tokens attending to other tokens). `scale` is a
 * number or a one-element tensor (a learned temperature times 1 / sqrt(dh)), which then gets its
 * gradient. Keeps q, k, v, the probabilities P and the scale tensor: with dP = dy v^T and
 * dS = P (dP - rowsum(dP P)), dq = scale dS k, dk = scale dS^T q, dv = P^T dy and
 * dscale = sum(dS k q).
 */
export function attention(queries: tf.Tensor4D, keys: tf.Tensor4D, values: tf.Tensor4D, scale: number | tf.Tensor): tf.Tensor4D {
  const [batch, heads, , headDim] = queries.shape;
  const fits = (tensor: tf.Tensor4D) => tensor.rank === 4 && tensor.shape[0] === batch && tensor.shape[1] === heads && tensor.shape[3] === headDim;
  if (queries.rank !== 4 || !fits(keys) || !fits(values) || keys.shape[2] !== values.shape[2]) {
    throw new ShapeError(
      `attention: queries must be [B, H, Tq, dh] and keys and values [B, H, Tk, dh], got ${shapeText(queries.shape)}, ${shapeText(keys.shape)} and ${shapeText(values.shape)}`,
    );
  }
  if (typeof scale !== 'number' && scale.size !== 1) throw new ShapeError(`attention: scale must be a number or a one-element tensor, got ${shapeText(scale.shape)}`);
  const scaleTensor = typeof scale === 'number' ? null : scale;
  return customOp<tf.Tensor4D>(scaleTensor === null ? [queries, keys, values] : [queries, keys, values, scaleTensor], (args, save) => {
    const [q, k, v] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    // Scaling q (B*T*dh values) is cheaper than scaling the logits (B*T*T) and equal in exact arithmetic.
    const probabilities = tf.softmax(tf.matMul(tf.mul(q, args[3] ?? scale), k, false, true));
    save([q, k, v, probabilities, ...args.slice(3)]);
    return {
      value: tf.matMul(probabilities, v),
      gradient: (dy, [savedQ, savedK, savedV, savedP, savedScale]) => {
        const factor = savedScale ?? scale;
        // The [B, H, Tq, Tk] temporaries are freed once used: at most two live beside P.
        const dP = tf.matMul(dy, savedV!, false, true);
        const rowSums = then(tf.mul(dP, savedP!), (products) => tf.sum(products, -1, true));
        const dLogits = then(
          then(dP, (value) => tf.sub(value, rowSums)),
          (difference) => tf.mul(savedP!, difference),
        );
        const dScaledQ = tf.matMul(dLogits, savedK!);
        const dKeys = then(tf.matMul(dLogits, savedQ!, true, false), (value) => tf.mul(value, factor));
        dLogits.dispose();
        const grads = [tf.mul(dScaledQ, factor), dKeys, tf.matMul(savedP!, dy, true, false)];
        if (savedScale !== undefined) grads.push(tf.reshape(tf.sum(tf.mul(dScaledQ, savedQ!)), savedScale.shape));
        return grads;
      },
    };
  });
}

/** tf.reshape whose gradient keeps nothing (Reshape's stock gradient keeps its input for its shape). */
export function reshape<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  return customOp<T>([x], ([input]) => ({
    value: tf.reshape(input!, shape) as T,
    gradient: (dy) => [tf.reshape(dy, x.shape)],
  }));
}

/** a + b of one shape (a residual connection): dy flows to both unchanged and nothing is kept. */
export function residualAdd<T extends tf.Tensor>(a: T, b: T): T {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new ShapeError(`residualAdd: both terms must have one shape, got ${shapeText(a.shape)} and ${shapeText(b.shape)}`);
  }
  return customOp<T>([a, b], ([first, second]) => ({
    value: tf.add(first!, second!),
    gradient: (dy) => [tf.clone(dy), tf.clone(dy)],
  }));
}

/**
 * Stochastic depth (timm's drop_path): in training, zero a residual branch for whole samples with
 * probability `rate` and scale the survivors by 1 / (1 - rate). Each image's draw is keyed by the
 * pass's seed, the `site` and the image's place in the step's batch (`perImageDropout`). Keeps only
 * the [B, 1, 1] mask.
 */
export function dropPath(x: tf.Tensor3D, rate: number, context: DrawContext & { readonly training: boolean }, site: readonly number[]): tf.Tensor3D {
  if (!context.training || rate === 0) return x;
  return perImageDropout(x, rate, context, site, [x.shape[0], 1, 1]);
}

/**
 * Inverted dropout with per-image draws (`perImageUniform`): each element of `x` [B, ...] is kept
 * with probability 1 - rate and scaled by 1 / (1 - rate), else zeroed. `noiseShape` (default x's
 * shape) broadcasts one draw over the axes where it is 1: [B, 1, 1] drops whole samples (drop path).
 * Keeps only the mask for the backward pass (dx = dy mask).
 */
export function perImageDropout<T extends tf.Tensor>(x: T, rate: number, context: DrawContext, site: readonly number[], noiseShape: readonly number[] = x.shape): T {
  checkRate('rate', rate);
  if (rate === 0) return x;
  return tf.tidy(() => {
    const keep = 1 - rate;
    // floor(u + keep) is 1 with probability keep, as tf.dropout computes its mask.
    const mask = tf.div(tf.floor(tf.add(perImageUniform(context, site, noiseShape), keep)), keep);
    return customOp<T>([x], ([input], save) => {
      save([mask]);
      return { value: tf.mul(input!, mask) as T, gradient: (dy, [savedMask]) => [tf.mul(dy, savedMask!)] };
    });
  });
}

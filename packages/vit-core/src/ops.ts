import * as tf from '@tensorflow/tfjs-core';
import type { DrawContext } from './per-image-random';
import { perImageDropout } from './per-image-random';

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm computes it. */
export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): T {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gamma), beta) as T;
  });
}

/** GELU with the exact erf form (torch.nn.GELU default), not the tanh approximation. */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T);
}

/**
 * y = x W + b on a 2-D input with W stored as [in, out]: a plain, untransposed, unbatched matrix
 * product, the one shape every tfjs backend runs at full speed. No fused op: a fused matmul makes
 * the backward compute the weight's gradient even when the weight is frozen.
 */
export function linear(x: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D | null): tf.Tensor2D {
  const product: tf.Tensor2D = tf.matMul(x, weight);
  return bias === null ? product : tf.add<tf.Tensor2D>(product, bias);
}

/**
 * Stochastic depth (timm's drop_path): in training, zero a residual branch for whole samples with
 * probability `rate` and scale the survivors by 1 / (1 - rate). Each image's draw is keyed by the
 * pass's seed, the `site` and the image's place in the step's batch (`perImageDropout`).
 */
export function dropPath(x: tf.Tensor3D, rate: number, context: DrawContext & { readonly training: boolean }, site: readonly number[]): tf.Tensor3D {
  if (!context.training || rate === 0) return x;
  return perImageDropout(x, rate, context, site, [x.shape[0], 1, 1]);
}

import * as tf from '@tensorflow/tfjs-core';
import { positiveNumber } from '@visual-peft/vit-core';

/** The global L2 norm of a set of gradients, sqrt(sum of every squared entry), as a scalar tensor. */
export function globalNorm(gradients: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const squares = [...gradients].map((gradient) => tf.sum(tf.square(gradient)));
    return tf.sqrt(squares.length === 0 ? tf.scalar(0) : tf.addN(squares)) as tf.Scalar;
  });
}

/**
 * Gradient clipping by global norm (PyTorch's clip_grad_norm_): when the norm exceeds `maxNorm`,
 * every gradient is multiplied by `maxNorm / (norm + 1e-6)`; otherwise they are returned as they
 * are. Returns new tensors under the same keys (the caller disposes both sets).
 */
export function clipGradNorm<K>(gradients: ReadonlyMap<K, tf.Tensor>, maxNorm: number, norm: tf.Scalar): Map<K, tf.Tensor> {
  positiveNumber('clipGradNorm', maxNorm);
  const keys = [...gradients.keys()];
  // tidy keeps the tensors of arrays and plain objects it returns, not those inside a Map.
  const clipped = tf.tidy(() => {
    const coefficient = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return keys.map((key) => tf.mul(gradients.get(key)!, coefficient));
  });
  return new Map(keys.map((key, index) => [key, clipped[index]!]));
}

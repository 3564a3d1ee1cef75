import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource } from '@visual-peft/vit-core';
import { SeededRandom, ShapeError, deriveSeed, integer, numberInRange, positiveNumber } from '@visual-peft/vit-core';
import type { VisualQueryTuning } from './visual-query-tuning';
import { disposeFrozen } from './visual-query-tuning';

export interface GroupLassoOptions {
  /** Weight of the group penalty sum_j ||W_j||_2 over input features j. Default 1e-4 (the paper's). */
  readonly penalty?: number;
  /** Fraction of the features kept, by the L2 norm of their head weights. Default 0.7. */
  readonly keepFraction?: number;
  /** Epochs of each of the two head fits (penalised, then final). Default 50. */
  readonly epochs?: number;
  /** Adam learning rate of the head fits. Default 1e-3. */
  readonly learningRate?: number;
  /** Mini-batch size of the head fits. Default 128. */
  readonly batchSize?: number;
  /** Seed of the mini-batch order. Default 0. */
  readonly seed?: number;
}

export interface GroupLassoResult {
  readonly featuresBefore: number;
  readonly featuresAfter: number;
  /** The kept features (indices into VQT's head input), ascending. */
  readonly kept: Int32Array;
  /** Each input feature's head-weight L2 norm after the penalised fit. */
  readonly featureNorms: Float32Array;
}

/** The head inputs of a whole split with the queries frozen (no dropout): [N, featureDim] on the host. */
export async function extractQueryFeatures(
  vqt: VisualQueryTuning,
  source: BatchSource,
): Promise<{ features: Float32Array; labels: Int32Array; count: number }> {
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for await (const batch of source(0)) {
    const images = tf.tensor4d(batch.images, [...batch.shape]);
    const frozen = vqt.frozenPass(images);
    const features = vqt.featuresFromFrozen(frozen);
    parts.push((await features.data()) as Float32Array);
    tf.dispose([images, features]);
    disposeFrozen(frozen);
    labels.push(...batch.labels);
  }
  const all = new Float32Array(labels.length * vqt.featureDim);
  parts.reduce((offset, part) => (all.set(part, offset), offset + part.length), 0);
  return { features: all, labels: Int32Array.from(labels), count: labels.length };
}

/** Fits a linear head [inputs, classes] on fixed features with Adam, optionally with the group penalty. */
function fitHead(
  features: tf.Tensor2D,
  labels: tf.Tensor2D,
  options: { epochs: number; learningRate: number; batchSize: number; penalty: number; seed: number },
): { weight: tf.Tensor2D; bias: tf.Tensor1D } {
  const [count, inputs] = features.shape;
  const classes = labels.shape[1];
  const weight = tf.tidy(() => tf.variable(tf.zeros([inputs, classes]), true));
  const bias = tf.tidy(() => tf.variable(tf.zeros([classes]), true));
  const optimizer = tf.train.adam(options.learningRate);
  const random = new SeededRandom(deriveSeed(options.seed));
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = random.permutation(count);
    for (let start = 0; start < count; start += options.batchSize) {
      const rows = tf.tensor1d(order.subarray(start, start + options.batchSize), 'int32');
      tf.dispose(
        optimizer.minimize(() => {
          const logits = tf.add(tf.matMul(tf.gather(features, rows), weight as tf.Tensor2D), bias);
          const loss = tf.losses.softmaxCrossEntropy(tf.gather(labels, rows), logits) as tf.Scalar;
          // Group lasso over input features: the L2 norm of each feature's row of weights, smoothed by
          // 1e-12 under the root so that rows at zero (the start) get a zero gradient, not 0/0.
          if (options.penalty === 0) return loss;
          const rowNorms = tf.sqrt(tf.add(tf.sum(tf.square(weight), 1), 1e-12));
          return tf.add(loss, tf.mul(options.penalty, tf.sum(rowNorms)));
        }, false, [weight, bias]) ?? [],
      );
      rows.dispose();
    }
  }
  optimizer.dispose();
  return { weight, bias } as { weight: tf.Tensor2D; bias: tf.Tensor1D };
}

/**
 * VQT's optional second stage (Sec. 3.3): with the queries frozen, fit a fresh head with the group
 * lasso penalty over its input features, keep the top fraction of features by the L2 norm of their
 * weights, fit the final head on those, and install it in the method (`selectFeatures`).
 */
export async function compressWithGroupLasso(vqt: VisualQueryTuning, source: BatchSource, options: GroupLassoOptions = {}): Promise<GroupLassoResult> {
  const penalty = numberInRange('penalty', options.penalty ?? 1e-4, { min: 0 });
  const keepFraction = numberInRange('keepFraction', options.keepFraction ?? 0.7, { min: 0, max: 1, exclusiveMin: true });
  const epochs = integer('epochs', options.epochs ?? 50, 1);
  const learningRate = positiveNumber('learningRate', options.learningRate ?? 1e-3);
  const batchSize = integer('batchSize', options.batchSize ?? 128, 1);
  const seed = options.seed ?? 0;

  const numClasses = vqt.config.numClasses;
  const { features, labels, count } = await extractQueryFeatures(vqt, source);
  if (count === 0) throw new ShapeError('group lasso needs training features: the batch source is empty');
  const all = tf.tensor2d(features, [count, vqt.featureDim]);
  const oneHot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses), 'float32') as tf.Tensor2D);
  try {
    const penalised = fitHead(all, oneHot, { epochs, learningRate, batchSize, penalty, seed });
    const featureNorms = tf.tidy(() => tf.norm(penalised.weight, 'euclidean', 1).dataSync() as Float32Array);
    tf.dispose([penalised.weight, penalised.bias]);
    const keep = Math.max(1, Math.round(keepFraction * vqt.featureDim));
    const kept = Int32Array.from(
      Array.from(featureNorms.keys())
        .sort((a, b) => featureNorms[b]! - featureNorms[a]! || a - b)
        .slice(0, keep),
    ).sort();
    const reduced = tf.tidy(() => tf.gather(all, tf.tensor1d(kept, 'int32'), 1) as tf.Tensor2D);
    const head = fitHead(reduced, oneHot, { epochs, learningRate, batchSize, penalty: 0, seed: seed + 1 });
    reduced.dispose();
    vqt.selectFeatures(kept, head);
    tf.dispose([head.weight, head.bias]);
    return { featuresBefore: vqt.featureDim, featuresAfter: kept.length, kept, featureNorms };
  } finally {
    tf.dispose([all, oneHot]);
  }
}

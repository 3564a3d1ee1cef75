import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, integer, knownOptions, oneOf } from '@visual-peft/vit-core';
import { resizeBilinear } from './resize-bilinear';

/**
 * How the per-pixel losses are averaged. 'non-ignored': over the pixels that carry a class (PyTorch's
 * `F.cross_entropy(ignore_index=255)`); 'all-pixels': over every pixel, ignored ones counting 0
 * (mmseg's CrossEntropyLoss with its default `avg_non_ignore=False`).
 */
export type LossAverage = 'non-ignored' | 'all-pixels';

export const LOSS_AVERAGES: readonly LossAverage[] = ['non-ignored', 'all-pixels'];

export interface SegmentationLossOptions {
  /** Label value that carries no class. Default 255 (ADE20K with reduce_zero_label). */
  readonly ignoreIndex?: number;
  /** Default 'non-ignored'. */
  readonly average?: LossAverage;
}

/**
 * Throws `ConfigError` when a label is neither a class in [0, numClasses) nor `ignoreIndex`. One
 * boolean leaves the device; the labels are read back only to name an offending value.
 */
export function checkLabels(labels: tf.Tensor3D, numClasses: number, ignoreIndex: number): void {
  if (labels.dtype !== 'int32') throw new ShapeError(`labels must be int32 [batch, height, width], got ${labels.dtype}`);
  const invalid = tf.tidy(() => {
    const outside = tf.logicalOr(tf.less(labels, 0), tf.greaterEqual(labels, numClasses));
    return tf.any(tf.logicalAnd(outside, tf.notEqual(labels, ignoreIndex))).dataSync()[0] === 1;
  });
  if (invalid) {
    const bad = Array.from(labels.dataSync()).find((label) => label !== ignoreIndex && (label < 0 || label >= numClasses));
    throw new ConfigError('labels', bad, `must hold class ids in [0, ${numClasses}) or the ignore index ${ignoreIndex}`);
  }
}

/**
 * Pixel-wise cross-entropy of NHWC logits against [B, H, W] labels that `checkLabels` accepted. The
 * logits are first resized bilinearly (align_corners=False) to the labels' size, as mmseg's
 * `losses()` does. With 'non-ignored' and no labelled pixel the loss is 0 (not PyTorch's NaN), so one
 * empty crop cannot poison a run.
 */
export function pixelCrossEntropy(logits: tf.Tensor4D, labels: tf.Tensor3D, ignoreIndex: number, average: LossAverage): tf.Scalar {
  const [batch, height, width] = labels.shape;
  if (logits.rank !== 4 || labels.rank !== 3 || logits.shape[0] !== batch) {
    throw new ShapeError(`logits [batch, h, w, classes] and labels [batch, H, W] must share the batch, got [${logits.shape.join(', ')}] and [${labels.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const resized = resizeBilinear(logits, [height, width]);
    const labelled = tf.notEqual(labels, ignoreIndex);
    const mask = tf.cast(labelled, 'float32');
    // Ignored pixels pick class 0 here; the mask removes them from both sums.
    const picked = tf.oneHot(tf.where(labelled, labels, tf.zerosLike(labels)), logits.shape[3], 1, 0, 'float32');
    const perPixel = tf.sub(tf.logSumExp(resized, -1), tf.sum(tf.mul(resized, picked), -1));
    const total = tf.sum(tf.mul(perPixel, mask));
    const count = average === 'all-pixels' ? tf.scalar(batch * height * width) : tf.maximum(tf.sum(mask), 1);
    return tf.div(total, count) as tf.Scalar;
  });
}

/** `pixelCrossEntropy` after checking the labels and the options. */
export function segmentationCrossEntropy(logits: tf.Tensor4D, labels: tf.Tensor3D, options: SegmentationLossOptions = {}): tf.Scalar {
  const resolved = knownOptions('segmentationCrossEntropy', options, ['ignoreIndex', 'average']);
  const ignoreIndex = integer('ignoreIndex', resolved.ignoreIndex ?? 255, 0);
  const average = oneOf('average', resolved.average ?? 'non-ignored', LOSS_AVERAGES);
  if (ignoreIndex < logits.shape[3]) throw new ConfigError('ignoreIndex', ignoreIndex, `must not be a class id (classes: ${logits.shape[3]})`);
  checkLabels(labels, logits.shape[3], ignoreIndex);
  return pixelCrossEntropy(logits, labels, ignoreIndex, average);
}

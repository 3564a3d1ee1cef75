import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, rate } from '@visual-peft/vit-core';

/**
 * Cross-entropy of each sample, [B], with label smoothing as PyTorch's `cross_entropy(...,
 * label_smoothing=eps)` and timm's LabelSmoothingCrossEntropy define it: the target is
 * `(1 - eps) * onehot + eps / C`, so the loss is `(1 - eps) * nll + eps * mean_c(-log p_c)`.
 */
export function crossEntropyPerSample(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Tensor1D {
  rate('labelSmoothing', labelSmoothing);
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0] || labels.dtype !== 'int32') {
    throw new ShapeError(
      `logits must be [batch, classes] and labels int32 [batch], got logits [${logits.shape.join(', ')}] and labels ${labels.dtype} [${labels.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => {
    const logProbabilities = tf.logSoftmax(logits);
    const negativeLogLikelihood = tf.neg(tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), logProbabilities), 1));
    if (labelSmoothing === 0) return negativeLogLikelihood as tf.Tensor1D;
    const uniform = tf.neg(tf.mean(logProbabilities, 1));
    return tf.add(tf.mul(negativeLogLikelihood, 1 - labelSmoothing), tf.mul(uniform, labelSmoothing)) as tf.Tensor1D;
  });
}

/** The batch mean of `crossEntropyPerSample`: the training loss. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => tf.mean(crossEntropyPerSample(logits, labels, labelSmoothing)) as tf.Scalar);
}

import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@visual-peft/vit-core';

/**
 * Images [B, C, H, W] -> patches [B, N, C*p*p], patches in raster order and each one's pixels in
 * (channel, row, column) order: the order the ViT's patch embedding reads them in.
 */
export function patchify(images: tf.Tensor4D, patchSize: number): tf.Tensor3D {
  const [batch, channels, height, width] = images.shape;
  const p = patchSize;
  if (height % p !== 0 || width % p !== 0) throw new ShapeError(`images ${height}x${width} are not a whole number of ${p}x${p} patches`);
  const rows = height / p;
  const columns = width / p;
  return tf.tidy(() => {
    // Two rank-4 transposes instead of one rank-6: [B*C*rows, p, columns, p] -> [B, C, rows*columns, p*p] -> [B, N, C, p*p].
    const withinRows = tf.transpose(tf.reshape(images, [batch * channels * rows, p, columns, p]), [0, 2, 1, 3]);
    const patches = tf.transpose(tf.reshape(withinRows, [batch, channels, rows * columns, p * p]), [0, 2, 1, 3]);
    return tf.reshape(patches, [batch, rows * columns, channels * p * p]);
  });
}

/**
 * MAE's loss (He et al. 2022): the mean squared error per patch, averaged over the masked patches
 * only (`mask` 1). With `normPixLoss` each target patch is first normalised by its own mean and
 * variance (eps 1e-6), the variant the paper reports as better representations.
 */
export function maeLoss(prediction: tf.Tensor3D, target: tf.Tensor3D, mask: tf.Tensor2D, normPixLoss: boolean): tf.Scalar {
  if (prediction.shape.join() !== target.shape.join() || mask.shape.join() !== target.shape.slice(0, 2).join()) {
    throw new ShapeError(
      `MAE loss needs prediction and target [B, N, P] and mask [B, N] alike, got [${prediction.shape.join(', ')}], [${target.shape.join(', ')}], [${mask.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => {
    let goal = target;
    if (normPixLoss) {
      const { mean, variance } = tf.moments(target, -1, true);
      // torch's var() is unbiased: the paper's code divides by P - 1.
      const size = target.shape[2];
      const unbiased = size > 1 ? tf.mul(variance, size / (size - 1)) : variance;
      goal = tf.div(tf.sub(target, mean), tf.sqrt(tf.add(unbiased, 1e-6)));
    }
    const perPatch = tf.mean(tf.squaredDifference(prediction, goal), -1);
    return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.sum(mask));
  });
}

import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, integer, integerPair, knownOptions, oneOf } from '@visual-peft/vit-core';
import { resizeBilinear } from './resize-bilinear';
import type { SetrPup } from './setr-pup';

/** One crop of the sliding-window test, in pixels of the image. */
export interface SlidingWindow {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/**
 * mmseg's 'slide' windows: ceil((side - crop) / stride) + 1 positions per axis at multiples of the
 * stride, each window clamped to the image by moving it back from the far edge; an image smaller
 * than the crop gets one window of its own size on that axis.
 */
export function slidingWindows(height: number, width: number, crop: readonly [number, number], stride: readonly [number, number]): SlidingWindow[] {
  const positions = (side: number, cropSide: number, strideSide: number): { start: number; size: number }[] => {
    const count = Math.floor(Math.max(side - cropSide + strideSide - 1, 0) / strideSide) + 1;
    return Array.from({ length: count }, (_, index) => {
      const end = Math.min(index * strideSide + cropSide, side);
      const start = Math.max(end - cropSide, 0);
      return { start, size: end - start };
    });
  };
  const rows = positions(height, crop[0], stride[0]);
  const columns = positions(width, crop[1], stride[1]);
  return rows.flatMap((row) => columns.map((column) => ({ top: row.start, left: column.start, height: row.size, width: column.size })));
}

export type InferenceMode = 'whole' | 'slide';

export interface InferenceOptions {
  /**
   * 'slide' (default, mmseg's ADE20K SETR test): crops of the backbone's `imgSize` at `stride`,
   * logits summed and divided by the number of windows covering each pixel. 'whole': one pass; the
   * images must be the backbone's `imgSize`.
   */
  readonly mode?: InferenceMode;
  /** [rows, columns] (or one number for both) between window origins. Default 341 (mmseg's ADE20K test, crop 512). */
  readonly stride?: number | readonly [number, number];
}

/**
 * Class logits [B, H, W, classes] (NHWC) of NCHW images [B, C, H, W], at the images' size: each
 * pass's decode-head logits are resized bilinearly (align_corners=False) to its input's size, as
 * mmseg's `encode_decode`. The backbone has a fixed input size, so in 'slide' mode a window cut
 * short by an image smaller than the crop is zero-padded (the normalised mean) at the bottom and
 * right and its logits are cut back; mmseg runs such a window at its own size instead.
 */
export function inferSegmentation(model: SetrPup, images: tf.Tensor4D, options: InferenceOptions = {}): tf.Tensor4D {
  const resolved = knownOptions('inferSegmentation', options, ['mode', 'stride']);
  const mode = oneOf('mode', resolved.mode ?? 'slide', ['whole', 'slide'] as const);
  if (images.rank !== 4) throw new ShapeError(`images must be NCHW [batch, channels, height, width], got [${images.shape.join(', ')}]`);
  const [, , height, width] = images.shape;
  if (mode === 'whole') {
    if (resolved.stride !== undefined) throw new ConfigError('stride', resolved.stride, "applies to mode 'slide' only");
    return tf.tidy(() => resizeBilinear(model.forward(images), [height, width]));
  }
  const crop = model.backbone.config.imgSize;
  const stride = integerPair('stride', resolved.stride ?? 341);
  if (stride[0] > crop[0] || stride[1] > crop[1]) throw new ConfigError('stride', resolved.stride ?? 341, `must not exceed the crop [${crop.join(', ')}] (the backbone's imgSize)`);
  return slideInference(model, images, slidingWindows(height, width, [crop[0], crop[1]], stride));
}

function slideInference(model: SetrPup, images: tf.Tensor4D, windows: readonly SlidingWindow[]): tf.Tensor4D {
  const [batch, , height, width] = images.shape;
  const [cropHeight, cropWidth] = model.backbone.config.imgSize;
  const counts = new Float32Array(height * width);
  let sum: tf.Tensor4D = tf.zeros([batch, height, width, model.config.numClasses]);
  for (const window of windows) {
    const previous = sum;
    sum = tf.tidy(() => {
      let crop = tf.slice(images, [0, 0, window.top, window.left], [-1, -1, window.height, window.width]);
      if (window.height < cropHeight || window.width < cropWidth) {
        crop = tf.pad(crop, [[0, 0], [0, 0], [0, cropHeight - window.height], [0, cropWidth - window.width]]);
      }
      const logits = resizeBilinear(model.forward(crop), [cropHeight, cropWidth]);
      const inside = tf.slice(logits, [0, 0, 0, 0], [-1, window.height, window.width, -1]);
      const bottom = height - window.top - window.height;
      const right = width - window.left - window.width;
      return tf.add(previous, tf.pad(inside, [[0, 0], [window.top, bottom], [window.left, right], [0, 0]]));
    });
    previous.dispose();
    for (let row = window.top; row < window.top + window.height; row++) {
      for (let column = window.left; column < window.left + window.width; column++) counts[row * width + column]! += 1;
    }
  }
  const averaged = tf.tidy(() => tf.div(sum, tf.tensor4d(counts, [1, height, width, 1])) as tf.Tensor4D);
  sum.dispose();
  return averaged;
}

/**
 * Class ids [B * H * W] (row-major [B, H, W]) of NHWC logits resized bilinearly to [H, W]: the
 * argmax after resizing, as mmseg predicts at the original annotation's size. Computed in bands of
 * rows holding at most `bandValues` logits (default 2^24, 64 MB), so a full-size map (classes x H
 * x W) never exists at once.
 */
export function predictLabels(logits: tf.Tensor4D, size: readonly [number, number], bandValues = 2 ** 24): Int32Array {
  const [batch, , , classes] = logits.shape;
  const [height, width] = integerPair('size', [...size]);
  const rowsPerBand = Math.max(1, Math.floor(integer('bandValues', bandValues, 1) / (batch * width * classes)));
  const labels = new Int32Array(batch * height * width);
  for (let start = 0; start < height; start += rowsPerBand) {
    const end = Math.min(start + rowsPerBand, height);
    const band = tf.tidy(() => tf.argMax(resizeBilinear(logits, [height, width], [start, end]), -1).dataSync() as Int32Array);
    const bandSize = (end - start) * width;
    for (let image = 0; image < batch; image++) labels.set(band.subarray(image * bandSize, (image + 1) * bandSize), (image * height + start) * width);
  }
  return labels;
}

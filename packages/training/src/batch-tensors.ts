import * as tf from '@tensorflow/tfjs-core';
import type { ImageBatch } from '@visual-peft/vit-core';
import { ShapeError } from '@visual-peft/vit-core';

/** A batch on the backend, with its largest label for the check against the logits. */
export interface BatchTensors {
  readonly images: tf.Tensor4D;
  readonly labels: tf.Tensor1D;
  readonly maxLabel: number;
}

/** Checks an `ImageBatch` (sizes agree, labels whole and >= 0) and returns its largest label. */
export function checkBatch(batch: ImageBatch): number {
  const { images, labels, shape } = batch;
  const [size, channels, height, width] = shape;
  if (shape.length !== 4 || shape.some((extent) => !Number.isSafeInteger(extent) || extent < 1)) {
    throw new ShapeError(`batch shape must be [batch, channels, height, width] of positive whole numbers, got [${shape.join(', ')}]`);
  }
  if (!(images instanceof Float32Array) || images.length !== size * channels * height * width) {
    throw new ShapeError(`batch images must be a Float32Array of ${size}x${channels}x${height}x${width} values, got ${images.length}`);
  }
  if (!(labels instanceof Int32Array) || labels.length !== size) {
    throw new ShapeError(`batch labels must be an Int32Array of ${size} class ids, got ${labels.length}`);
  }
  let maxLabel = -1;
  for (const label of labels) {
    if (label < 0) throw new ShapeError(`batch labels must be class ids >= 0, got ${label}`);
    maxLabel = Math.max(maxLabel, label);
  }
  return maxLabel;
}

/** Checks an `ImageBatch` (`checkBatch`) and puts it on the backend. */
export function batchTensors(batch: ImageBatch): BatchTensors {
  const maxLabel = checkBatch(batch);
  return { images: tf.tensor4d(batch.images, [...batch.shape]), labels: tf.tensor1d(batch.labels, 'int32'), maxLabel };
}

/** Images [start, start + count) of a checked batch as a batch of their own: views of its host arrays, no copy. */
export function sliceBatch(batch: ImageBatch, start: number, count: number): ImageBatch {
  const [size, channels, height, width] = batch.shape;
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > size) {
    throw new ShapeError(`a slice of a batch of ${size} must lie inside it, got ${count} images from ${start}`);
  }
  const perImage = channels * height * width;
  return {
    images: batch.images.subarray(start * perImage, (start + count) * perImage),
    labels: batch.labels.subarray(start, start + count),
    shape: [count, channels, height, width],
  };
}

/**
 * Refuses logits (by shape: the trainer checks after the gradient tape, since tensors an error
 * leaves on the tape are never freed) that are not [batch, classes] or have fewer classes than a
 * label needs.
 */
export function checkLogits(logitsShape: readonly number[], batch: BatchTensors): void {
  const size = batch.labels.shape[0];
  if (logitsShape.length !== 2 || logitsShape[0] !== size) {
    throw new ShapeError(`logits must be [${size}, classes], got [${logitsShape.join(', ')}]`);
  }
  if (batch.maxLabel >= logitsShape[1]!) {
    throw new ShapeError(`batch label ${batch.maxLabel} is out of range for ${logitsShape[1]} classes`);
  }
}

import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { segmentationCrossEntropy } from './segmentation-loss';

/** -log softmax(z)[label], in float64. */
function pixelLoss(z: readonly number[], label: number): number {
  const top = Math.max(...z);
  const logSum = top + Math.log(z.reduce((sum, value) => sum + Math.exp(value - top), 0));
  return logSum - z[label]!;
}

describe('segmentationCrossEntropy', () => {
  let before: number;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => expect(tf.memory().numTensors, 'tensors leaked').toBe(before));

  // One 2x2 image, 3 classes, NHWC; the bottom-right pixel is ignored.
  const Z = [
    [2, -1, 0.5],
    [0, 0, 3],
    [-2, 1, 1],
    [5, 5, 5],
  ];
  const LABELS = [0, 2, 1, 255];

  it('averages -log softmax over the labelled pixels by default and over all pixels on request', () => {
    const logits = tf.tensor4d(Z.flat(), [1, 2, 2, 3]);
    const labels = tf.tensor3d(LABELS, [1, 2, 2], 'int32');
    const sum = pixelLoss(Z[0]!, 0) + pixelLoss(Z[1]!, 2) + pixelLoss(Z[2]!, 1);
    const nonIgnored = segmentationCrossEntropy(logits, labels);
    const allPixels = segmentationCrossEntropy(logits, labels, { average: 'all-pixels' });
    expect(nonIgnored.dataSync()[0]).toBeCloseTo(sum / 3, 5);
    expect(allPixels.dataSync()[0]).toBeCloseTo(sum / 4, 5);
    tf.dispose([logits, labels, nonIgnored, allPixels]);
  });

  it('resizes the logits to the labels’ size first (one logit vector spreads over every pixel)', () => {
    const logits = tf.tensor4d([1, -1, 0.25], [1, 1, 1, 3]);
    const labels = tf.tensor3d([0, 1, 2, 2, 255, 0], [1, 3, 2], 'int32');
    const z = [1, -1, 0.25];
    const expected = (2 * pixelLoss(z, 0) + pixelLoss(z, 1) + 2 * pixelLoss(z, 2)) / 5;
    const loss = segmentationCrossEntropy(logits, labels);
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
    tf.dispose([logits, labels, loss]);
  });

  it('is 0, not NaN, when every pixel is ignored, and honours another ignore index', () => {
    const logits = tf.tensor4d(Z.flat(), [1, 2, 2, 3]);
    const ignored = tf.tensor3d([255, 255, 255, 255], [1, 2, 2], 'int32');
    const custom = tf.tensor3d([0, 9, 9, 9], [1, 2, 2], 'int32');
    const empty = segmentationCrossEntropy(logits, ignored);
    const single = segmentationCrossEntropy(logits, custom, { ignoreIndex: 9 });
    expect(empty.dataSync()[0]).toBe(0);
    expect(single.dataSync()[0]).toBeCloseTo(pixelLoss(Z[0]!, 0), 5);
    tf.dispose([logits, ignored, custom, empty, single]);
  });

  it('refuses labels outside the classes, naming the value, and bad options or shapes', () => {
    const logits = tf.tensor4d(Z.flat(), [1, 2, 2, 3]);
    const outside = tf.tensor3d([0, 1, 3, 255], [1, 2, 2], 'int32');
    const negative = tf.tensor3d([0, -1, 2, 255], [1, 2, 2], 'int32');
    const floats = tf.tensor3d([0, 1, 2, 0], [1, 2, 2], 'float32');
    const twoImages = tf.tensor3d([0, 1, 2, 0, 0, 1, 2, 0], [2, 2, 2], 'int32');
    const labels = tf.tensor3d(LABELS, [1, 2, 2], 'int32');
    expect(() => segmentationCrossEntropy(logits, outside)).toThrow(/labels must hold class ids in \[0, 3\) or the ignore index 255, got 3/);
    expect(() => segmentationCrossEntropy(logits, negative)).toThrow(/got -1/);
    expect(() => segmentationCrossEntropy(logits, floats)).toThrow(ShapeError);
    expect(() => segmentationCrossEntropy(logits, twoImages)).toThrow(/share the batch/);
    expect(() => segmentationCrossEntropy(logits, labels, { ignoreIndex: 2 })).toThrow(/ignoreIndex must not be a class id/);
    expect(() => segmentationCrossEntropy(logits, labels, { ignoreIndex: -100 })).toThrow(/^ignoreIndex must be an integer >= 0, got -100$/);
    expect(() => segmentationCrossEntropy(logits, labels, { average: 'sum' as never })).toThrow(/average must be one of non-ignored, all-pixels, got "sum"/);
    expect(() => segmentationCrossEntropy(logits, labels, { weight: 1 } as never)).toThrow(/^segmentationCrossEntropy.weight is not an option \(options: ignoreIndex, average\), got 1$/);
    tf.dispose([logits, outside, negative, floats, twoImages, labels]);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { maeLoss, patchify } from './mae-loss';

let before: number;
beforeEach(() => (before = tf.memory().numTensors));
afterEach(() => expect(tf.memory().numTensors).toBe(before));

describe('patchify', () => {
  it('cuts raster-order patches, each as (channel, row, column)', () => {
    // One 2-channel 4x4 image; pixel value = 100 * channel + 10 * row + column.
    const values = Array.from({ length: 32 }, (_, i) => 100 * Math.floor(i / 16) + 10 * Math.floor((i % 16) / 4) + (i % 4));
    const patches = tf.tidy(() => patchify(tf.tensor4d(values, [1, 2, 4, 4]), 2).arraySync());
    expect(patches[0]![0]).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
    expect(patches[0]![1]).toEqual([2, 3, 12, 13, 102, 103, 112, 113]);
    expect(patches[0]![2]).toEqual([20, 21, 30, 31, 120, 121, 130, 131]);
    expect(patches[0]![3]).toEqual([22, 23, 32, 33, 122, 123, 132, 133]);
  });
});

describe('maeLoss', () => {
  // Two images of three patches of two values each.
  const prediction = [
    [[1, 2], [0, 0], [5, 5]],
    [[2, 2], [1, -1], [0, 4]],
  ];
  const target = [
    [[1, 4], [3, 1], [0, 0]],
    [[0, 0], [1, 1], [2, 2]],
  ];
  const mask = [
    [0, 1, 1],
    [1, 0, 0],
  ];
  const lossOf = (normPixLoss: boolean, maskValues = mask) =>
    tf.tidy(() => maeLoss(tf.tensor3d(prediction), tf.tensor3d(target), tf.tensor2d(maskValues), normPixLoss).dataSync()[0]!);

  it('averages the per-patch squared error over the masked patches only', () => {
    // Masked: image 0 patches 1 and 2, image 1 patch 0. Per-patch MSE: (9 + 1) / 2 = 5, (25 + 25) / 2 = 25, (4 + 4) / 2 = 4.
    expect(lossOf(false)).toBeCloseTo((5 + 25 + 4) / 3, 5);
    // Changing a visible patch's error changes nothing; the loss is a different mean with another mask.
    expect(lossOf(false, [[1, 0, 0], [0, 0, 0]])).toBeCloseTo((0 + 4) / 2, 5);
  });

  it('normalises each target patch by its mean and unbiased variance with normPixLoss', () => {
    // Patch [3, 1]: mean 2, unbiased variance 2 -> [1, -1] / sqrt(2 + 1e-6). Patch [0, 0]: variance 0 -> [0, 0].
    // Patch [0, 0] of image 1: [0, 0].
    const s = Math.sqrt(2 + 1e-6);
    const expected = (((0 - 1 / s) ** 2 + (0 + 1 / s) ** 2) / 2 + (25 + 25) / 2 + (4 + 4) / 2) / 3;
    expect(lossOf(true)).toBeCloseTo(expected, 5);
  });

  it('refuses shapes that do not match', () => {
    expect(() => tf.tidy(() => maeLoss(tf.zeros([2, 3, 2]), tf.zeros([2, 3, 4]), tf.zeros([2, 3]), false))).toThrow(ShapeError);
    expect(() => tf.tidy(() => maeLoss(tf.zeros([2, 3, 2]), tf.zeros([2, 3, 2]), tf.zeros([2, 2]), false))).toThrow(/mask \[B, N\]/);
  });
});

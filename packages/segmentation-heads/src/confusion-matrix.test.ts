import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { ConfusionMatrix } from './confusion-matrix';

/**
 * Three images of a 5-class task, pixels flattened, 255 = ignore:
 * - image 1 predicts class 2 on an ignored pixel (not counted) and confuses 0 and 1 once;
 * - image 2 holds class 2, half of it found;
 * - image 3 predicts class 3 where class 0 is: class 3 exists only as a prediction.
 * Class 4 appears nowhere. By hand, rows = label, columns = prediction:
 *   label 0: 3 x 0, 1 x 1, 1 x 3   (5 pixels)
 *   label 1: 2 x 1                  (2 pixels)
 *   label 2: 1 x 0, 1 x 2           (2 pixels)
 * Prediction areas: 0 -> 4, 1 -> 3, 2 -> 1, 3 -> 1.
 * IoU: 0: 3 / (5 + 4 - 3) = 1/2; 1: 2 / (2 + 3 - 2) = 2/3; 2: 1 / (2 + 1 - 1) = 1/2; 3: 0 / 1 = 0;
 * 4: no union, NaN. mIoU = (1/2 + 2/3 + 1/2 + 0) / 4 = 5/12.
 * Accuracy: 0: 3/5, 1: 1, 2: 1/2, 3 and 4: no labelled pixel, NaN. mAcc = (3/5 + 1 + 1/2) / 3 = 0.7.
 * aAcc = (3 + 2 + 1) / 9 = 2/3.
 */
const IMAGES = [
  { labels: [0, 0, 1, 255, 1, 0], predictions: [0, 1, 1, 2, 1, 0] },
  { labels: [2, 2, 0], predictions: [2, 0, 0] },
  { labels: [0], predictions: [3] },
];

function expectedCounts(): Float64Array {
  const counts = new Float64Array(25);
  const set = (label: number, prediction: number, count: number) => (counts[label * 5 + prediction] = count);
  set(0, 0, 3);
  set(0, 1, 1);
  set(0, 3, 1);
  set(1, 1, 2);
  set(2, 0, 1);
  set(2, 2, 1);
  return counts;
}

describe('ConfusionMatrix', () => {
  it('counts pixels by (label, prediction) across images, leaving ignored pixels out', () => {
    const confusion = new ConfusionMatrix(5);
    for (const image of IMAGES) confusion.update(Int32Array.from(image.predictions), Int32Array.from(image.labels));
    expect(confusion.counts).toEqual(expectedCounts());
  });

  it('gives mmseg’s metrics: mIoU over classes with a union, mAcc over labelled classes, aAcc over labelled pixels', () => {
    const confusion = new ConfusionMatrix(5);
    for (const image of IMAGES) confusion.update(image.predictions, image.labels);
    const metrics = confusion.metrics();
    expect(metrics.iou).toEqual([1 / 2, 2 / 3, 1 / 2, 0, NaN]);
    expect(metrics.accuracy).toEqual([3 / 5, 1, 1 / 2, NaN, NaN]);
    expect(metrics.mIoU).toBeCloseTo(5 / 12, 12);
    expect(metrics.mAcc).toBeCloseTo(0.7, 12);
    expect(metrics.aAcc).toBeCloseTo(2 / 3, 12);
  });

  it('is the same accumulated image by image or as one batch, and merges', () => {
    const whole = new ConfusionMatrix(5);
    whole.update(
      IMAGES.flatMap((image) => image.predictions),
      IMAGES.flatMap((image) => image.labels),
    );
    const first = new ConfusionMatrix(5);
    const rest = new ConfusionMatrix(5);
    first.update(IMAGES[0]!.predictions, IMAGES[0]!.labels);
    IMAGES.slice(1).forEach((image) => rest.update(image.predictions, image.labels));
    first.merge(rest);
    expect(first.counts).toEqual(whole.counts);
    expect(first.counts).toEqual(expectedCounts());
    first.reset();
    expect(first.counts.every((count) => count === 0)).toBe(true);
    expect(() => first.merge(new ConfusionMatrix(4))).toThrow(ShapeError);
  });

  it('gives NaN means when nothing was labelled, and exact means on a perfect prediction', () => {
    const empty = new ConfusionMatrix(3);
    empty.update([0, 1], [255, 255]);
    expect(empty.metrics()).toMatchObject({ mIoU: NaN, mAcc: NaN, aAcc: NaN });
    const perfect = new ConfusionMatrix(3);
    perfect.update([2, 2, 0], [2, 2, 0]);
    expect(perfect.metrics()).toMatchObject({ mIoU: 1, mAcc: 1, aAcc: 1, iou: [1, NaN, 1] });
  });

  it('refuses values outside the classes, naming them, and keeps its counts when a batch is refused', () => {
    const confusion = new ConfusionMatrix(3);
    confusion.update([0], [0]);
    expect(() => confusion.update([0, 1], [0, 3])).toThrow(new ConfigError('labels', 3, 'must hold class ids in [0, 3) or the ignore index 255'));
    expect(() => confusion.update([0, -1], [0, 1])).toThrow(/predictions must hold class ids in \[0, 3\), got -1/);
    expect(() => confusion.update([0, 1.5], [0, 1])).toThrow(/predictions/);
    expect(() => confusion.update([0], [0, 1])).toThrow(ShapeError);
    expect(confusion.counts[0]).toBe(1);
    expect(confusion.counts.reduce((sum, count) => sum + count, 0)).toBe(1);
  });

  it('validates its configuration', () => {
    expect(() => new ConfusionMatrix(0)).toThrow(/numClasses must be an integer >= 1, got 0/);
    expect(() => new ConfusionMatrix(3, { ignoreIndex: 2 })).toThrow(/ignoreIndex must not be a class id/);
    expect(() => new ConfusionMatrix(3, { ignoreIndex: -1 })).toThrow(/ignoreIndex must be an integer >= 0, got -1/);
    expect(new ConfusionMatrix(3, { ignoreIndex: 7 }).ignoreIndex).toBe(7);
  });
});

import { ConfigError, ShapeError, integer } from '@visual-peft/vit-core';

/**
 * mmseg's segmentation metrics (`IoUMetric`), as fractions in [0, 1] (mmseg prints them x100).
 * Per-class values are NaN where they are undefined; the means skip NaN (numpy's nanmean).
 */
export interface SegmentationMetrics {
  /** Mean IoU over the classes present in the labels or the predictions (union > 0). */
  readonly mIoU: number;
  /** Mean per-class accuracy (recall) over the classes present in the labels. */
  readonly mAcc: number;
  /** All-pixel accuracy: correct labelled pixels over labelled pixels. */
  readonly aAcc: number;
  /** Per class: intersection / union, NaN where the union is empty. */
  readonly iou: readonly number[];
  /** Per class: correct pixels / labelled pixels of the class, NaN where it has none. */
  readonly accuracy: readonly number[];
}

/**
 * Pixel counts by (label, prediction) over a whole evaluation set, added batch by batch so no
 * prediction needs to be kept. Pixels labelled `ignoreIndex` are left out whatever was predicted
 * there. Counts are float64, exact up to 2^53 pixels.
 */
export class ConfusionMatrix {
  readonly numClasses: number;
  readonly ignoreIndex: number;
  /** counts[label * numClasses + prediction]. */
  readonly counts: Float64Array;

  constructor(numClasses: number, options: { ignoreIndex?: number } = {}) {
    this.numClasses = integer('numClasses', numClasses, 1);
    this.ignoreIndex = integer('ignoreIndex', options.ignoreIndex ?? 255, 0);
    if (this.ignoreIndex < this.numClasses) throw new ConfigError('ignoreIndex', this.ignoreIndex, `must not be a class id (numClasses ${this.numClasses})`);
    this.counts = new Float64Array(this.numClasses * this.numClasses);
  }

  /** Adds one batch: predicted and true class ids of the same pixels, in the same order. */
  update(predictions: ArrayLike<number>, labels: ArrayLike<number>): void {
    if (predictions.length !== labels.length) {
      throw new ShapeError(`predictions and labels must cover the same pixels, got ${predictions.length} and ${labels.length}`);
    }
    const classes = this.numClasses;
    const pending = new Float64Array(this.counts.length);
    for (let pixel = 0; pixel < labels.length; pixel++) {
      const label = labels[pixel]!;
      if (label === this.ignoreIndex) continue;
      const prediction = predictions[pixel]!;
      if (!(Number.isInteger(label) && label >= 0 && label < classes)) {
        throw new ConfigError('labels', label, `must hold class ids in [0, ${classes}) or the ignore index ${this.ignoreIndex}`);
      }
      if (!(Number.isInteger(prediction) && prediction >= 0 && prediction < classes)) {
        throw new ConfigError('predictions', prediction, `must hold class ids in [0, ${classes})`);
      }
      pending[label * classes + prediction]! += 1;
    }
    // A batch with a bad value changes nothing.
    pending.forEach((count, index) => (this.counts[index]! += count));
  }

  /** Adds another matrix of the same classes (e.g. one evaluated on another worker). */
  merge(other: ConfusionMatrix): void {
    if (other.numClasses !== this.numClasses) throw new ShapeError(`cannot merge a ${other.numClasses}-class confusion matrix into a ${this.numClasses}-class one`);
    other.counts.forEach((count, index) => (this.counts[index]! += count));
  }

  reset(): void {
    this.counts.fill(0);
  }

  metrics(): SegmentationMetrics {
    const classes = this.numClasses;
    const iou: number[] = [];
    const accuracy: number[] = [];
    let correct = 0;
    let labelled = 0;
    for (let c = 0; c < classes; c++) {
      let labelArea = 0;
      let predictionArea = 0;
      for (let other = 0; other < classes; other++) {
        labelArea += this.counts[c * classes + other]!;
        predictionArea += this.counts[other * classes + c]!;
      }
      const intersection = this.counts[c * classes + c]!;
      const union = labelArea + predictionArea - intersection;
      iou.push(union > 0 ? intersection / union : NaN);
      accuracy.push(labelArea > 0 ? intersection / labelArea : NaN);
      correct += intersection;
      labelled += labelArea;
    }
    return { mIoU: nanMean(iou), mAcc: nanMean(accuracy), aAcc: labelled > 0 ? correct / labelled : NaN, iou, accuracy };
  }
}

function nanMean(values: readonly number[]): number {
  const defined = values.filter((value) => !Number.isNaN(value));
  return defined.length === 0 ? NaN : defined.reduce((sum, value) => sum + value, 0) / defined.length;
}

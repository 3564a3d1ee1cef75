import { ConfigError, ShapeError, integer, numberInRange } from '@visual-peft/vit-core';
import sharp from 'sharp';
import type { SegmentationExample, SegmentationSplit } from './ade20k';
import { corruptImage, decodeImage } from './decode-image';
import type { LabelMap } from './label-map';
import { cropLabelMap, decodeLabelMap, flipLabelMap, resizeLabelMap } from './label-map';
import type { PhotometricDistortionConfig } from './photometric-distortion';
import { DEFAULT_PHOTOMETRIC_DISTORTION, photometricDistortion } from './photometric-distortion';
import type { PlanarImage } from './planar-image';
import type { BatchWriter, LoaderOptions } from './prefetch-batches';
import { SkipLog, planEpoch, prefetchBatches, resolveLoaderOptions } from './prefetch-batches';
import type { SeededRandom } from '@visual-peft/vit-core';
import type { CropBox } from './transforms';
import { IMAGENET_MEAN, IMAGENET_STD, cropImage, flipImage, normalizeInto } from './transforms';
import type { CorruptImageError } from './dataset-error';

/** Images with per-pixel labels. */
export interface SegmentationBatch {
  /** Normalised float32 pixels, NCHW. */
  readonly images: Float32Array;
  readonly shape: readonly [number, number, number, number];
  /** Class ids per pixel, `ignoreIndex` (255) where no class counts. */
  readonly labels: Int32Array;
  /**
   * [batch, height, width] of `labels`: the image's size in training; in evaluation the original
   * annotation's size, since mIoU is computed against the original annotation (as mmseg does).
   */
  readonly labelShape: readonly [number, number, number];
}

/**
 * Batches of one epoch; `startBatch` skips that many batches without decoding them (an
 * iteration-based run resuming mid-epoch gets exactly the batches it would have had).
 */
export type SegmentationBatchSource = ((epoch: number, startBatch?: number) => AsyncIterable<SegmentationBatch>) & {
  readonly numExamples: number;
  /** Batches in one epoch (a dropped last batch not counted). */
  readonly batchesPerEpoch: number;
  readonly skipped: readonly CorruptImageError[];
};

/** mmseg's ADE20K training pipeline (configs/_base_/datasets/ade20k.py). */
export interface SegmentationTrainConfig {
  readonly mode: 'train';
  /** Side of the square crop. Default 512 (that config's `crop_size`). */
  readonly cropSize: number;
  /** [long, short] edge the random scale multiplies. Default [2048, 512] (mmseg's img_scale). */
  readonly baseScale: readonly [number, number];
  /** Range of the random scale ratio. Default [0.5, 2.0]. */
  readonly ratioRange: readonly [number, number];
  /** A crop is redrawn (up to 10 times) while one class covers this share of its labelled pixels. Default 0.75. */
  readonly catMaxRatio: number;
  /** Default 0.5. */
  readonly flipProbability: number;
  /** mmseg's PhotoMetricDistortion, or null for none. Default mmseg's settings. */
  readonly photometric: PhotometricDistortionConfig | null;
}

/** mmseg's test pipeline: resize keeping the ratio to fit [long, short], nothing random. */
export interface SegmentationEvalConfig {
  readonly mode: 'eval';
  /** Default [2048, 512]. */
  readonly baseScale: readonly [number, number];
}

export const DEFAULT_SEGMENTATION_TRAIN: SegmentationTrainConfig = {
  mode: 'train',
  cropSize: 512,
  baseScale: [2048, 512],
  ratioRange: [0.5, 2.0],
  catMaxRatio: 0.75,
  flipProbability: 0.5,
  photometric: DEFAULT_PHOTOMETRIC_DISTORTION,
};

export const DEFAULT_SEGMENTATION_EVAL: SegmentationEvalConfig = { mode: 'eval', baseScale: [2048, 512] };

/**
 * mmcv's `rescale_size`: the largest scale with long edge <= scale's long and short edge <= its
 * short, sizes rounded half up.
 */
export function rescaleSize(width: number, height: number, scale: readonly [number, number]): [number, number] {
  const factor = Math.min(Math.max(...scale) / Math.max(width, height), Math.min(...scale) / Math.min(width, height));
  return [Math.floor(width * factor + 0.5), Math.floor(height * factor + 0.5)];
}

/**
 * mmseg's RandomCrop with the category-ratio rule: draw a crop (top, then left); while its labelled
 * pixels (ignore excluded) hold fewer than two classes or one class has `catMaxRatio` of them or
 * more, draw again, at most 10 more times, keeping the last. A side shorter than the crop is taken whole.
 */
export function categoryRatioCrop(labels: LabelMap, cropSize: number, catMaxRatio: number, ignoreIndex: number, random: SeededRandom): CropBox {
  const draw = (): CropBox => {
    const top = random.integer(0, Math.max(labels.height - cropSize, 0));
    const left = random.integer(0, Math.max(labels.width - cropSize, 0));
    return { left, top, width: Math.min(cropSize, labels.width - left), height: Math.min(cropSize, labels.height - top) };
  };
  let box = draw();
  if (catMaxRatio >= 1) return box;
  for (let attempt = 0; attempt < 10; attempt++) {
    const counts = new Map<number, number>();
    for (let y = box.top; y < box.top + box.height; y++) {
      for (let x = box.left; x < box.left + box.width; x++) {
        const label = labels.data[y * labels.width + x]!;
        if (label !== ignoreIndex) counts.set(label, (counts.get(label) ?? 0) + 1);
      }
    }
    let total = 0;
    let largest = 0;
    for (const count of counts.values()) {
      total += count;
      largest = Math.max(largest, count);
    }
    if (counts.size > 1 && largest / total < catMaxRatio) break;
    box = draw();
  }
  return box;
}

export interface SegmentationSourceOptions extends LoaderOptions {
  /** Default `DEFAULT_SEGMENTATION_TRAIN`; pass `{ mode: 'eval' }` for validation (batchSize 1 unless all images share a size). */
  readonly pipeline?: Partial<SegmentationTrainConfig> | Partial<SegmentationEvalConfig>;
  /** Default ImageNet's. */
  readonly mean?: readonly [number, number, number];
  readonly std?: readonly [number, number, number];
}

function resolvePipeline(input: SegmentationSourceOptions['pipeline']): SegmentationTrainConfig | SegmentationEvalConfig {
  if (input?.mode === 'eval') {
    const config = { ...DEFAULT_SEGMENTATION_EVAL, ...input };
    checkScale(config.baseScale);
    return config;
  }
  const config = { ...DEFAULT_SEGMENTATION_TRAIN, ...(input as Partial<SegmentationTrainConfig> | undefined) };
  if (config.mode !== 'train') throw new ConfigError('pipeline.mode', config.mode, "must be 'train' or 'eval'");
  integer('pipeline.cropSize', config.cropSize, 1);
  checkScale(config.baseScale);
  const [low, high] = config.ratioRange;
  if (config.ratioRange.length !== 2 || !(low! > 0 && high! >= low!)) throw new ConfigError('pipeline.ratioRange', config.ratioRange, 'must be [low, high] with 0 < low <= high');
  if (!(config.catMaxRatio > 0 && config.catMaxRatio <= 1)) throw new ConfigError('pipeline.catMaxRatio', config.catMaxRatio, 'must be in (0, 1] (1 turns the rule off)');
  numberInRange('pipeline.flipProbability', config.flipProbability, { min: 0, max: 1 });
  return config;
}

function checkScale(scale: readonly number[]): void {
  if (scale.length !== 2 || !scale.every((side) => Number.isInteger(side) && side > 0)) {
    throw new ConfigError('pipeline.baseScale', scale, 'must be [long, short], positive integers');
  }
}

interface Sample {
  readonly image: PlanarImage;
  readonly labels: LabelMap;
}

async function imageSize(example: SegmentationExample): Promise<[number, number]> {
  try {
    const { width, height } = await sharp(example.image, { failOn: 'warning' }).metadata();
    if (width === undefined || height === undefined) throw corruptImage(example.image, example.origin, 'no image size in the header');
    return [width, height];
  } catch (error) {
    throw corruptImage(example.image, example.origin, error);
  }
}

/** Decodes one pair and applies the pipeline to image and labels together (nearest for labels). */
export async function loadSegmentationSample(
  example: SegmentationExample,
  split: Pick<SegmentationSplit, 'numClasses' | 'ignoreIndex'>,
  config: SegmentationTrainConfig | SegmentationEvalConfig,
  random: SeededRandom,
): Promise<Sample> {
  const [width, height] = await imageSize(example);
  const labels = await decodeLabelMap(
    example.annotation,
    { numClasses: split.numClasses, ignoreIndex: split.ignoreIndex, reduceZeroLabel: true, expectedSize: [width, height], image: example.image },
    example.origin,
  );
  if (config.mode === 'eval') {
    const [targetWidth, targetHeight] = rescaleSize(width, height, config.baseScale);
    const image = await decodeImage(example.image, { mode: 'exact', width: targetWidth, height: targetHeight, interpolation: 'bilinear' }, example.origin);
    return { image, labels };
  }
  const ratio = random.uniform(config.ratioRange[0], config.ratioRange[1]);
  const scale = [Math.trunc(config.baseScale[0] * ratio), Math.trunc(config.baseScale[1] * ratio)] as const;
  const [targetWidth, targetHeight] = rescaleSize(width, height, scale);
  let image = await decodeImage(example.image, { mode: 'exact', width: targetWidth, height: targetHeight, interpolation: 'bilinear' }, example.origin);
  let scaled = resizeLabelMap(labels, targetWidth, targetHeight);
  const box = categoryRatioCrop(scaled, config.cropSize, config.catMaxRatio, split.ignoreIndex, random);
  image = cropImage(image, box);
  scaled = cropLabelMap(scaled, box);
  if (random.chance(config.flipProbability)) {
    image = flipImage(image);
    scaled = flipLabelMap(scaled);
  }
  if (config.photometric !== null) image = photometricDistortion(image, random, config.photometric);
  return { image, labels: scaled };
}

/**
 * Batches of a segmentation split. Training: random scale 0.5-2.0, category-ratio crop 512, flip,
 * photometric distortion, then normalisation and padding to the crop (image 0 after normalising,
 * labels the ignore index), as mmseg. Evaluation: resized to fit [2048, 512], labels at full size.
 */
export function createSegmentationSource(split: SegmentationSplit, options: SegmentationSourceOptions): SegmentationBatchSource {
  const resolved = resolveLoaderOptions(options);
  const config = resolvePipeline(options.pipeline);
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const skipLog = new SkipLog(options.onSkip);

  const createWriter = (): BatchWriter<SegmentationBatch> => {
    const samples: Sample[] = [];
    return {
      async write(index, slot, random) {
        samples[slot] = await loadSegmentationSample(split.examples[index]!, split, config, random);
      },
      finish(slots) {
        const kept = slots.map((slot) => samples[slot]!);
        const first = kept[0]!;
        const [height, width] = config.mode === 'train' ? [config.cropSize, config.cropSize] : [first.image.height, first.image.width];
        const [labelHeight, labelWidth] = config.mode === 'train' ? [height, width] : [first.labels.height, first.labels.width];
        for (const sample of kept) {
          if (config.mode === 'eval' && (sample.image.width !== width || sample.image.height !== height || sample.labels.width !== labelWidth || sample.labels.height !== labelHeight)) {
            throw new ShapeError(`evaluation batches need images of one size (got ${sample.image.width}x${sample.image.height} and ${width}x${height}); use batchSize 1`);
          }
        }
        const images = new Float32Array(kept.length * 3 * height * width);
        const labels = new Int32Array(kept.length * labelHeight * labelWidth).fill(split.ignoreIndex);
        kept.forEach((sample, i) => {
          normalizeInto(sample.image, mean, std, images, i * 3 * height * width, [height, width]);
          for (let y = 0; y < sample.labels.height; y++) {
            const row = sample.labels.data.subarray(y * sample.labels.width, (y + 1) * sample.labels.width);
            labels.set(row, i * labelHeight * labelWidth + y * labelWidth);
          }
        });
        return { images, shape: [kept.length, 3, height, width], labels, labelShape: [kept.length, labelHeight, labelWidth] };
      },
    };
  };

  const batchesPerEpoch = planEpoch(split.examples.length, 0, { ...resolved, shuffle: false }).length;
  const source = (epoch: number, startBatch = 0): AsyncIterable<SegmentationBatch> => {
    integer('startBatch', startBatch, 0);
    // Each image's random draws are keyed by (seed, epoch, image): skipping batches changes none of the rest.
    const plan = planEpoch(split.examples.length, epoch, resolved).slice(startBatch);
    return { [Symbol.asyncIterator]: () => prefetchBatches(plan, createWriter, resolved, epoch, skipLog) };
  };
  return Object.defineProperties(source, {
    numExamples: { value: split.examples.length, enumerable: true },
    batchesPerEpoch: { value: batchesPerEpoch, enumerable: true },
    skipped: { get: () => skipLog.skipped, enumerable: true },
  }) as SegmentationBatchSource;
}

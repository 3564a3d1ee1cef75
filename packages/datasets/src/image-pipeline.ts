import { ConfigError, ShapeError, integer } from '@visual-peft/vit-core';
import type { ImageExample } from './classification-split';
import { describeImage } from './classification-split';
import { colorJitter } from './color-jitter';
import type { Interpolation, ResizeSpec } from './decode-image';
import { decodeImage, validateResize } from './decode-image';
import type { PlanarImage } from './planar-image';
import { randAugment } from './rand-augment';
import type { SeededRandom } from '@visual-peft/vit-core';
import type { ImageStep } from './transforms';
import { IMAGENET_MEAN, IMAGENET_STD, centerCrop, horizontalFlip, randomCrop } from './transforms';

/** Decode-time resize, pixel steps, then normalisation: how one image becomes one batch entry. */
export interface ImagePipeline {
  /** Done by sharp while decoding; null keeps the decoded size. */
  readonly resize: ResizeSpec | null;
  /** Applied in order on RGB planes (0..255). */
  readonly steps: readonly ImageStep[];
  /** Per-channel mean on the 0..1 scale. Default ImageNet's (0.485, 0.456, 0.406). */
  readonly mean: readonly [number, number, number];
  /** Per-channel std on the 0..1 scale. Default ImageNet's (0.229, 0.224, 0.225). */
  readonly std: readonly [number, number, number];
  /** [height, width] of every image after the steps: a batch has one size. */
  readonly outputSize: readonly [number, number];
}

export interface ImagePipelineInput {
  readonly resize: ResizeSpec | null;
  readonly steps?: readonly ImageStep[];
  readonly mean?: readonly [number, number, number];
  readonly std?: readonly [number, number, number];
  readonly outputSize: readonly [number, number];
}

export function createImagePipeline(input: ImagePipelineInput): ImagePipeline {
  const pipeline: ImagePipeline = {
    resize: input.resize === null ? null : validateResize(input.resize, 'pipeline.resize'),
    steps: input.steps ?? [],
    mean: input.mean ?? IMAGENET_MEAN,
    std: input.std ?? IMAGENET_STD,
    outputSize: input.outputSize,
  };
  if (pipeline.mean.length !== 3 || !pipeline.mean.every(Number.isFinite)) throw new ConfigError('pipeline.mean', pipeline.mean, 'must be three finite numbers');
  if (pipeline.std.length !== 3 || !pipeline.std.every((value) => value > 0 && Number.isFinite(value))) {
    throw new ConfigError('pipeline.std', pipeline.std, 'must be three finite numbers > 0');
  }
  if (pipeline.outputSize.length !== 2 || !pipeline.outputSize.every((value) => Number.isInteger(value) && value > 0)) {
    throw new ConfigError('pipeline.outputSize', pipeline.outputSize, 'must be [height, width], positive integers');
  }
  return pipeline;
}

/** Decodes one example and runs the steps; the result has the pipeline's output size or throws. */
export async function runImagePipeline(example: ImageExample, pipeline: ImagePipeline, random: SeededRandom): Promise<PlanarImage> {
  let image = await decodeImage(example.image, pipeline.resize, example.origin);
  for (const step of pipeline.steps) image = step(image, random);
  const [height, width] = pipeline.outputSize;
  if (image.height !== height || image.width !== width) {
    throw new ShapeError(
      `${describeImage(example.image, example.origin)} came out of the pipeline ${image.width}x${image.height}, batches need ${width}x${height}`,
    );
  }
  return image;
}

/** The papers' preprocessing recipes by name (VPT's and SCT's released code; docs/recipes.md, Preprocessing). */
export type PipelinePresetName = 'fgvc-train' | 'fgvc-test' | 'vtab' | 'vtab-sct-train' | 'vtab-sct-test';

export const PIPELINE_PRESETS: readonly PipelinePresetName[] = ['fgvc-train', 'fgvc-test', 'vtab', 'vtab-sct-train', 'vtab-sct-test'];

export interface PipelinePresetOptions {
  /** Side of the square the backbone reads. Default 224 (every paper's ViT-B/16 runs). */
  readonly imageSize?: number;
  /** FGVC: shorter side before cropping. Default floor(imageSize / 0.875): 256 for 224, VPT's 438 for 384 and 512 for 448. */
  readonly resizeSize?: number;
  /**
   * vtab-sct-train: also apply ColorJitter 0.4 after RandAugment. Default false: SCT passes
   * `color_jitter=0.4` to timm, which drops color jitter whenever RandAugment is on (the paper lists both).
   */
  readonly colorJitter?: boolean;
}

/**
 * - `fgvc-train`: shorter side 256 (bilinear), random crop 224, horizontal flip 0.5 (VPT).
 * - `fgvc-test`: shorter side 256, center crop 224.
 * - `vtab`: straight to 224x224, bilinear, nothing else (VPT, GatedPT, VQT; train and test).
 * - `vtab-sct-train`: straight to 224x224 bicubic, horizontal flip 0.5, RandAugment
 *   rand-m9-mstd0.5-inc1 (SCT through timm's `create_transform`, first step replaced by the resize).
 * - `vtab-sct-test`: straight to 224x224 bicubic.
 * All end in ImageNet normalisation.
 */
export function pipelinePreset(name: PipelinePresetName, options: PipelinePresetOptions = {}): ImagePipeline {
  const imageSize = integer('imageSize', options.imageSize ?? 224, 1);
  const resizeSize = options.resizeSize ?? Math.floor(imageSize / 0.875);
  if (!Number.isInteger(resizeSize) || resizeSize < imageSize) throw new ConfigError('resizeSize', resizeSize, `must be an integer >= imageSize (${imageSize})`);
  const outputSize = [imageSize, imageSize] as const;
  const straight = (interpolation: Interpolation): ResizeSpec => ({ mode: 'exact', width: imageSize, height: imageSize, interpolation });
  const shorter: ResizeSpec = { mode: 'shorter', size: resizeSize, interpolation: 'bilinear' };
  switch (name) {
    case 'fgvc-train':
      return createImagePipeline({ resize: shorter, steps: [randomCrop(imageSize), horizontalFlip(0.5)], outputSize });
    case 'fgvc-test':
      return createImagePipeline({ resize: shorter, steps: [centerCrop(imageSize)], outputSize });
    case 'vtab':
      return createImagePipeline({ resize: straight('bilinear'), outputSize });
    case 'vtab-sct-train': {
      const steps = [horizontalFlip(0.5), randAugment()];
      if (options.colorJitter === true) steps.push(colorJitter());
      return createImagePipeline({ resize: straight('bicubic'), steps, outputSize });
    }
    case 'vtab-sct-test':
      return createImagePipeline({ resize: straight('bicubic'), outputSize });
    default:
      throw new ConfigError('preset', name, `must be one of ${PIPELINE_PRESETS.join(', ')}`);
  }
}

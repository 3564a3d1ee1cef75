import * as tf from '@tensorflow/tfjs-core';
import type { VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, deriveSeed, integer, knownOptions, numberInRange, oneOf, randomSite, tfjsSeed } from '@visual-peft/vit-core';
import type { HeadParameter } from './head-parameter';
import { exportWeights, importWeights } from './head-parameter';
import type { LossAverage } from './segmentation-loss';
import { LOSS_AVERAGES, checkLabels, pixelCrossEntropy } from './segmentation-loss';
import type { SetrPupHeadOptions, SetrPupHeadOptionsInput } from './setr-pup-head';
import { SetrPupHead, resolveSetrPupHeadOptions } from './setr-pup-head';

export interface SetrPupConfig {
  /** Classes to segment. Required; ADE20K: 150. */
  readonly numClasses: number;
  /** The decode head on the last block. Defaults: 256 channels, 3x3 convs, 4 stages of x2 (x16), no dropout. */
  readonly decodeHead: SetrPupHeadOptions;
  /**
   * Each auxiliary head. Defaults as the decode head but 2 stages of x2 (x4; docs/recipes.md). mmseg's
   * ADE20K SETR-PUP config leaves SETRUPHead's `up_scale=4` per stage (x16): `{ upScale: 4 }`.
   */
  readonly auxiliaryHead: SetrPupHeadOptions;
  /**
   * Blocks (0-based) the auxiliary heads read, one head each; [] for none. Default [4, 8]: blocks 5
   * and 9 of ViT-B counted from 1, as the GatedPT paper taps them.
   */
  readonly auxiliaryIndices: readonly number[];
  /** Weight of each auxiliary head's loss. Default 0.4 (mmseg's SETR-PUP configs, `loss_weight=0.4`). */
  readonly auxiliaryWeight: number;
  /** Label value that carries no class. Default 255 (ADE20K with reduce_zero_label). */
  readonly ignoreIndex: number;
  /**
   * 'non-ignored' (default): the cross-entropy is averaged over labelled pixels. 'all-pixels':
   * over every pixel, ignored ones counting 0, as mmseg's CrossEntropyLoss (`avg_non_ignore=False`).
   */
  readonly lossAverage: LossAverage;
  /** Seed of the heads' random initialisation. Default 0. */
  readonly seed: number;
}

export type SetrPupConfigInput = Partial<Omit<SetrPupConfig, 'decodeHead' | 'auxiliaryHead'>> &
  Pick<SetrPupConfig, 'numClasses'> & {
    readonly decodeHead?: SetrPupHeadOptionsInput;
    readonly auxiliaryHead?: SetrPupHeadOptionsInput;
  };

const SETR_PUP_FIELDS = ['numClasses', 'decodeHead', 'auxiliaryHead', 'auxiliaryIndices', 'auxiliaryWeight', 'ignoreIndex', 'lossAverage', 'seed'];

/** Validates a config against the backbone's depth (the auxiliary indices must be its blocks). */
export function resolveSetrPupConfig(input: SetrPupConfigInput, depth: number): SetrPupConfig {
  const fields = knownOptions('config', input, SETR_PUP_FIELDS);
  const numClasses = integer('numClasses', fields.numClasses, 1);
  const ignoreIndex = integer('ignoreIndex', fields.ignoreIndex ?? 255, 0);
  if (ignoreIndex < numClasses) throw new ConfigError('ignoreIndex', ignoreIndex, `must not be a class id (numClasses ${numClasses})`);
  const auxiliaryIndices = fields.auxiliaryIndices ?? [4, 8];
  const validIndices =
    Array.isArray(auxiliaryIndices) &&
    auxiliaryIndices.every((index) => Number.isInteger(index) && index >= 0 && index < depth) &&
    new Set(auxiliaryIndices).size === auxiliaryIndices.length;
  if (!validIndices) {
    throw new ConfigError('auxiliaryIndices', auxiliaryIndices, `must hold distinct block indices in [0, ${depth - 1}] (ViT-B: [4, 8])`);
  }
  return {
    numClasses,
    decodeHead: resolveSetrPupHeadOptions(fields.decodeHead, { numStages: 4 }, 'decodeHead.'),
    auxiliaryHead: resolveSetrPupHeadOptions(fields.auxiliaryHead, { numStages: 2 }, 'auxiliaryHead.'),
    auxiliaryIndices: [...auxiliaryIndices],
    auxiliaryWeight: numberInRange('auxiliaryWeight', fields.auxiliaryWeight ?? 0.4, { min: 0 }),
    ignoreIndex,
    lossAverage: oneOf('lossAverage', fields.lossAverage ?? 'non-ignored', LOSS_AVERAGES),
    seed: integer('seed', fields.seed ?? 0, 0),
  };
}

export interface SegmentationForwardOptions {
  /** Training: drop path and the methods' dropout in the backbone, batch statistics and dropout in the heads. Default false. */
  readonly training?: boolean;
  /** Seed of the pass's random ops; unseeded when absent. */
  readonly seed?: number;
}

/** The losses of one batch; `total` = decode + auxiliaryWeight * sum(auxiliary). */
export interface SegmentationLosses {
  readonly total: tf.Scalar;
  readonly decode: tf.Scalar;
  readonly auxiliary: tf.Scalar[];
}

export interface HeadParameterCounts {
  /** The decode head: what inference keeps. */
  readonly decode: number;
  /** All auxiliary heads together: training only. */
  readonly auxiliary: number;
  readonly total: number;
}

/**
 * SETR-PUP segmentation on a ViT (arXiv 2012.15840; docs/recipes.md, ADE20K): a decode head on the last block's
 * patch tokens and auxiliary heads on chosen blocks, as mmseg's SETR-PUP. The backbone's tokens are
 * taken without its final norm (mmseg's ViT `final_norm=False`); each head brings its own LayerNorm.
 * Any tuning method attached to the backbone (prompts included: the heads read the last N tokens)
 * works unchanged. The backbone stays the caller's: `dispose()` frees the heads only.
 */
/** Trainable values of one head from its options alone: LayerNorm, each stage's conv (no bias) and BatchNorm gain and bias, the 1x1 classifier conv with its bias. */
function headParameterCount(head: SetrPupHeadOptions, inChannels: number, numClasses: number): number {
  const { channels, kernelSize, numStages } = head;
  const stages = Array.from({ length: numStages }, (_, index) => (index === 0 ? inChannels : channels) * channels * kernelSize * kernelSize + 2 * channels);
  return 2 * inChannels + stages.reduce((sum, count) => sum + count, 0) + channels * numClasses + numClasses;
}

/**
 * What `new SetrPup(backbone, input).parameterCounts()` gives, from the backbone's depth and width and
 * the config alone: no tensor is built (`visual-peft-bench params --head setr-pup`).
 */
export function setrPupParameterCounts(backbone: { readonly depth: number; readonly embedDim: number }, input: SetrPupConfigInput): HeadParameterCounts {
  const config = resolveSetrPupConfig(input, backbone.depth);
  const decode = headParameterCount(config.decodeHead, backbone.embedDim, config.numClasses);
  const auxiliary = config.auxiliaryIndices.length * headParameterCount(config.auxiliaryHead, backbone.embedDim, config.numClasses);
  return { decode, auxiliary, total: decode + auxiliary };
}

export class SetrPup {
  readonly config: SetrPupConfig;
  readonly decodeHead: SetrPupHead;
  readonly auxiliaryHeads: readonly SetrPupHead[];

  constructor(
    readonly backbone: VisionTransformer,
    config: SetrPupConfigInput,
  ) {
    this.config = resolveSetrPupConfig(config, backbone.config.depth);
    const { numClasses, seed } = this.config;
    const inChannels = backbone.config.embedDim;
    this.decodeHead = new SetrPupHead({ ...this.config.decodeHead, inChannels, numClasses, key: 'decode_head', seed });
    this.auxiliaryHeads = this.config.auxiliaryIndices.map(
      (_, index) => new SetrPupHead({ ...this.config.auxiliaryHead, inChannels, numClasses, key: `auxiliary_head.${index}`, seed: deriveSeed(seed, HEAD_INIT_SITE, index + 1) }),
    );
  }

  /** Decode-head logits [B, rows * 16, columns * 16, classes] (NHWC, for 4 stages of x2) of NCHW images. */
  forward(images: tf.Tensor4D, options: SegmentationForwardOptions = {}): tf.Tensor4D {
    return tf.tidy(() => {
      const [grid] = this.grids(images, [this.backbone.config.depth - 1], options);
      return this.decodeHead.forward(grid!, { training: options.training, seed: headSeed(options.seed, 0) });
    });
  }

  /** Decode-head and auxiliary-head logits from one backbone pass. */
  forwardWithAuxiliary(images: tf.Tensor4D, options: SegmentationForwardOptions = {}): { logits: tf.Tensor4D; auxiliary: tf.Tensor4D[] } {
    type Result = { logits: tf.Tensor4D; auxiliary: tf.Tensor4D[] };
    return tf.tidy((): tf.TensorContainer => {
      const [last, ...taps] = this.grids(images, [this.backbone.config.depth - 1, ...this.config.auxiliaryIndices], options);
      const training = options.training;
      const logits = this.decodeHead.forward(last!, { training, seed: headSeed(options.seed, 0) });
      const auxiliary = this.auxiliaryHeads.map((head, index) => head.forward(taps[index]!, { training, seed: headSeed(options.seed, index + 1) }));
      return { logits, auxiliary } satisfies Result;
    }) as unknown as Result;
  }

  /**
   * The training objective on NCHW images and int32 labels [B, H, W]: cross-entropy of each head's
   * logits, resized to the labels' size, ignoring `ignoreIndex`; total = decode + 0.4 * each auxiliary.
   */
  losses(images: tf.Tensor4D, labels: tf.Tensor3D, options: SegmentationForwardOptions = {}): SegmentationLosses {
    const { numClasses, ignoreIndex, lossAverage, auxiliaryWeight } = this.config;
    checkLabels(labels, numClasses, ignoreIndex);
    return tf.tidy((): tf.TensorContainer => {
      const { logits, auxiliary } = this.forwardWithAuxiliary(images, options);
      const decode = pixelCrossEntropy(logits, labels, ignoreIndex, lossAverage);
      const auxiliaryLosses = auxiliary.map((auxiliaryLogits) => pixelCrossEntropy(auxiliaryLogits, labels, ignoreIndex, lossAverage));
      const total = auxiliaryLosses.reduce<tf.Scalar>((sum, loss) => tf.add(sum, tf.mul(loss, auxiliaryWeight)), decode);
      return { total, decode, auxiliary: auxiliaryLosses } satisfies SegmentationLosses;
    }) as unknown as SegmentationLosses;
  }

  /** Every head tensor in mmseg's state-dict order: decode head, then auxiliary heads. */
  get parameters(): HeadParameter[] {
    return [this.decodeHead, ...this.auxiliaryHeads].flatMap((head) => head.parameters);
  }

  /** The heads' trainable variables (the backbone's and its methods' are the caller's). */
  trainableVariables(): tf.Variable[] {
    return [this.decodeHead, ...this.auxiliaryHeads].flatMap((head) => head.trainableVariables());
  }

  parameterCounts(): HeadParameterCounts {
    const decode = this.decodeHead.numParameters();
    const auxiliary = this.auxiliaryHeads.reduce((sum, head) => sum + head.numParameters(), 0);
    return { decode, auxiliary, total: decode + auxiliary };
  }

  /** Parameters of all heads (running statistics excluded). */
  numParameters(): number {
    return this.parameterCounts().total;
  }

  /** Copies of every head tensor under mmseg's keys (`decode_head.*`, `auxiliary_head.<i>.*`); the caller disposes them. */
  weights(): Map<string, tf.Tensor> {
    return exportWeights(this.parameters);
  }

  /** Restores tensors saved by `weights()` (or an mmseg checkpoint's head keys); all are checked before any is written. */
  loadWeights(weights: ReadonlyMap<string, tf.Tensor>): void {
    importWeights(this.parameters, weights, 'SETR-PUP weights');
  }

  /** Frees the heads (not the backbone). */
  dispose(): void {
    this.decodeHead.dispose();
    this.auxiliaryHeads.forEach((head) => head.dispose());
  }

  private grids(images: tf.Tensor4D, indices: number[], options: SegmentationForwardOptions): tf.Tensor4D[] {
    const { intermediates } = this.backbone.forwardIntermediates(images, { indices, format: 'grid', training: options.training, seed: options.seed });
    return intermediates as tf.Tensor4D[];
  }
}

/** The key of the auxiliary heads' initial draws (with the head's index). */
const HEAD_INIT_SITE = randomSite('segmentation-heads/auxiliary-head-init');

/** The key of the heads' dropout draws (with the head's index). */
const HEAD_DROPOUT_SITE = randomSite('segmentation-heads/head-dropout');

/** Each head's dropout draws from its own seed, derived from the pass's. */
function headSeed(seed: number | undefined, head: number): number | undefined {
  return seed === undefined ? undefined : tfjsSeed(seed, HEAD_DROPOUT_SITE, head);
}

import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, deriveSeed, integer, knownOptions, layerNorm, nonEmptyString, numberInRange, oneOf, positiveNumber, rate } from '@visual-peft/vit-core';
import { BatchNorm2d } from './batch-norm-2d';
import { Conv2d } from './conv2d';
import type { HeadParameter } from './head-parameter';
import { countParameters, createHeadParameter, disposeParameters, exportWeights, importWeights } from './head-parameter';
import { resizeBilinear } from './resize-bilinear';

/** The shape of one SETR-PUP head: what mmseg's SETRUPHead takes besides its input and classes. */
export interface SetrPupHeadOptions {
  /** Output channels of every stage's conv. Default 256 (mmseg's `configs/_base_/models/setr_pup.py` and ADE20K config). */
  readonly channels: number;
  /** Kernel of the stage convs, 1 or 3 (padding (k - 1) / 2). Default 3 (SETR-PUP). */
  readonly kernelSize: 1 | 3;
  /**
   * Stages of [conv, BatchNorm, ReLU, bilinear upsampling] (mmseg's `num_convs`). Default 4: the
   * decode head's x16 for patch 16. Auxiliary heads use 2.
   */
  readonly numStages: number;
  /** Upsampling factor of every stage (mmseg's `up_scale`). Default 2. */
  readonly upScale: number;
  /**
   * Channel dropout (Dropout2d) before the classifier conv, in training only. Default 0, as every
   * mmseg SETR config sets `dropout_ratio=0` (mmseg's BaseDecodeHead default would be 0.1).
   */
  readonly dropout: number;
  /** Epsilon of the input LayerNorm. Default 1e-6 (mmseg's `norm_layer`). */
  readonly layerNormEps: number;
  /** Epsilon of the BatchNorms. Default 1e-5 (PyTorch). */
  readonly batchNormEps: number;
  /** Running-statistics momentum of the BatchNorms. Default 0.1 (PyTorch and mmseg). */
  readonly batchNormMomentum: number;
}

export interface SetrPupHeadConfig extends SetrPupHeadOptions {
  /** Channels of the backbone features it reads: the ViT's embedDim. Required. */
  readonly inChannels: number;
  /** Classes of the classifier conv. Required; ADE20K: 150. */
  readonly numClasses: number;
  /** Prefix of its weights' keys: 'decode_head' (default) or `auxiliary_head.<i>`, as in mmseg. */
  readonly key: string;
  /** Seed of the random initialisation. Default 0. */
  readonly seed: number;
}

export type SetrPupHeadOptionsInput = Partial<SetrPupHeadOptions>;
export type SetrPupHeadConfigInput = Partial<SetrPupHeadConfig> & Pick<SetrPupHeadConfig, 'inChannels' | 'numClasses'>;

export const SETR_PUP_HEAD_OPTIONS: readonly (keyof SetrPupHeadOptions)[] = [
  'channels',
  'kernelSize',
  'numStages',
  'upScale',
  'dropout',
  'layerNormEps',
  'batchNormEps',
  'batchNormMomentum',
];

/** Validates head options; errors name the field with `path` in front (`auxiliaryHead.numStages`). */
export function resolveSetrPupHeadOptions(input: SetrPupHeadOptionsInput | undefined, defaults: { numStages: number }, path = ''): SetrPupHeadOptions {
  const options = knownOptions(path === '' ? 'config' : path.slice(0, -1), input, SETR_PUP_HEAD_OPTIONS);
  return {
    channels: integer(`${path}channels`, options.channels ?? 256, 1),
    kernelSize: oneOf(`${path}kernelSize`, options.kernelSize ?? 3, [1, 3] as const),
    numStages: integer(`${path}numStages`, options.numStages ?? defaults.numStages, 1),
    upScale: integer(`${path}upScale`, options.upScale ?? 2, 1),
    dropout: rate(`${path}dropout`, options.dropout ?? 0),
    layerNormEps: positiveNumber(`${path}layerNormEps`, options.layerNormEps ?? 1e-6),
    batchNormEps: positiveNumber(`${path}batchNormEps`, options.batchNormEps ?? 1e-5),
    batchNormMomentum: numberInRange(`${path}batchNormMomentum`, options.batchNormMomentum ?? 0.1, { min: 0, max: 1 }),
  };
}

export function resolveSetrPupHeadConfig(input: SetrPupHeadConfigInput): SetrPupHeadConfig {
  const { inChannels, numClasses, key, seed, ...options } = input;
  return {
    ...resolveSetrPupHeadOptions(options, { numStages: 4 }),
    inChannels: integer('inChannels', inChannels, 1),
    numClasses: integer('numClasses', numClasses, 1),
    key: nonEmptyString('key', key ?? 'decode_head'),
    seed: integer('seed', seed ?? 0, 0),
  };
}

export interface HeadForwardOptions {
  /** Training: BatchNorm uses and updates batch statistics, dropout is active. Default false. */
  readonly training?: boolean;
  /** Seed of the dropout mask; unseeded when absent. */
  readonly seed?: number;
}

/** One stage of the progressive upsampling: mmseg's `up_convs.<i>` = Sequential(ConvModule, Upsample). */
interface Stage {
  readonly conv: Conv2d;
  readonly norm: BatchNorm2d;
}

/**
 * The progressive-upsampling head of SETR (Zheng et al., CVPR 2021) as mmseg's `SETRUPHead`:
 * LayerNorm over each token's channels, then `numStages` x [kxk conv without bias, BatchNorm,
 * ReLU, bilinear x`upScale` (align_corners=False)], then (dropout and) a 1x1 classifier conv
 * `conv_seg`. Weights and initialisation as mmseg: LayerNorm 1/0, stage convs kaiming-normal
 * (fan_out, ReLU gain), BatchNorm 1/0, `conv_seg` normal(0, 0.01) with zero bias.
 */
export class SetrPupHead {
  readonly config: SetrPupHeadConfig;
  readonly norm: { readonly weight: HeadParameter; readonly bias: HeadParameter };
  readonly stages: readonly Stage[];
  readonly convSeg: Conv2d;
  private disposed = false;

  constructor(config: SetrPupHeadConfigInput) {
    this.config = resolveSetrPupHeadConfig(config);
    const { key, inChannels, channels, kernelSize, numStages, numClasses, seed } = this.config;
    this.norm = {
      weight: createHeadParameter(`${key}.norm.weight`, [inChannels], 'identity', { kind: 'ones' }),
      bias: createHeadParameter(`${key}.norm.bias`, [inChannels], 'identity', { kind: 'zeros' }),
    };
    this.stages = Array.from({ length: numStages }, (_, index) => {
      const prefix = `${key}.up_convs.${index}.0`;
      const input = index === 0 ? inChannels : channels;
      // mmcv's kaiming_init(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / (out * k * k)).
      const std = Math.sqrt(2 / (channels * kernelSize * kernelSize));
      return {
        conv: new Conv2d(`${prefix}.conv`, input, channels, kernelSize, { bias: false, weightInit: { kind: 'normal', std, seed: deriveSeed(seed, index) } }),
        norm: new BatchNorm2d(`${prefix}.bn`, channels, this.config.batchNormEps, this.config.batchNormMomentum),
      };
    });
    this.convSeg = new Conv2d(`${key}.conv_seg`, channels, numClasses, 1, {
      bias: true,
      weightInit: { kind: 'normal', std: 0.01, seed: deriveSeed(seed, numStages) },
    });
  }

  /** Every tensor in mmseg's state-dict order. */
  get parameters(): HeadParameter[] {
    return [this.norm.weight, this.norm.bias, ...this.stages.flatMap((stage) => [...stage.conv.parameters, ...stage.norm.parameters]), ...this.convSeg.parameters];
  }

  /** Output side of a `rows` x `columns` grid: rows * upScale^numStages. */
  outputSize(rows: number, columns: number): [number, number] {
    const scale = this.config.upScale ** this.config.numStages;
    return [rows * scale, columns * scale];
  }

  /**
   * Backbone features [B, D, rows, columns] (NCHW, as `forwardIntermediates(..., { format: 'grid' })`
   * gives them) -> class logits [B, rows * s, columns * s, classes] (NHWC), s = upScale^numStages.
   * The features are transposed to NHWC once; every later op runs on NHWC.
   */
  forward(grid: tf.Tensor4D, options: HeadForwardOptions = {}): tf.Tensor4D {
    this.checkUsable();
    if (grid.rank !== 4 || grid.shape[1] !== this.config.inChannels) {
      throw new ShapeError(`${this.config.key} needs features [batch, ${this.config.inChannels}, rows, columns], got [${grid.shape.join(', ')}]`);
    }
    const training = options.training ?? false;
    return tf.tidy(() => {
      let x = layerNorm(tf.transpose(grid, [0, 2, 3, 1]), this.norm.weight.variable as tf.Tensor1D, this.norm.bias.variable as tf.Tensor1D, this.config.layerNormEps);
      for (const stage of this.stages) {
        x = tf.relu(stage.norm.apply(stage.conv.apply(x), training));
        x = resizeBilinear(x, [x.shape[1] * this.config.upScale, x.shape[2] * this.config.upScale]);
      }
      if (training && this.config.dropout > 0) x = dropChannels(x, this.config.dropout, options.seed);
      return this.convSeg.apply(x);
    });
  }

  trainableVariables(): tf.Variable[] {
    return this.parameters.filter((parameter) => !parameter.buffer).map((parameter) => parameter.variable);
  }

  /** Trainable values (running statistics excluded, as PyTorch counts parameters). */
  numParameters(): number {
    return countParameters(this.parameters);
  }

  /** Copies of every tensor (running statistics included) in PyTorch's layout under mmseg's keys. */
  weights(): Map<string, tf.Tensor> {
    this.checkUsable();
    return exportWeights(this.parameters);
  }

  loadWeights(weights: ReadonlyMap<string, tf.Tensor>): void {
    this.checkUsable();
    importWeights(this.parameters, weights, `${this.config.key} weights`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeParameters(this.parameters);
  }

  private checkUsable(): void {
    if (this.disposed) throw new ConfigError(this.config.key, 'disposed', 'must not be used after dispose()');
  }
}

/** Dropout2d: zeroes whole channels of each sample with probability `rate`, survivors scaled by 1 / (1 - rate). */
function dropChannels(x: tf.Tensor4D, rate: number, seed: number | undefined): tf.Tensor4D {
  const keep = 1 - rate;
  const mask = tf.div(tf.floor(tf.add(tf.randomUniform([x.shape[0], 1, 1, x.shape[3]], 0, 1, 'float32', seed), keep)), keep);
  return tf.mul(x, mask);
}

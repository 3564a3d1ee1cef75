import { ConfigError, flag, integer, knownOptions, numberInRange, oneOf, positiveNumber, rate } from '@visual-peft/vit-core';
import type { OptimizerConfig, OptimizerConfigInput } from './create-optimizer';
import { resolveOptimizerConfig } from './create-optimizer';
import type { ScheduleConfig, ScheduleConfigInput } from './schedule';
import { resolveScheduleConfig } from './schedule';

/** The evaluation metric that picks the best epoch: higher top-1 or per-class accuracy, or lower loss. */
export type BestMetric = 'top1' | 'perClassAccuracy' | 'loss';

/** A training run, as plain data (saved in checkpoints: a resumed run must be given the same). */
export interface TrainerConfigInput {
  /** Length of the run. Required. VPT, GatedPT, SPT, VQT, SCT: 100. */
  readonly epochs: number;
  /**
   * Batches the train source yields per epoch; per-step schedules and the ETA need it before the
   * first epoch ends, and a source that yields another number stops the run with a `ConfigError`.
   * Required.
   */
  readonly stepsPerEpoch: number;
  /** Optimiser, peak learning rate and weight decay. Required. See `OptimizerConfigInput`. */
  readonly optimizer: OptimizerConfigInput;
  /** Learning-rate schedule. Default: cosine per epoch, no warm-up, floor 0. See `ScheduleConfigInput`. */
  readonly schedule?: ScheduleConfigInput;
  /**
   * The backbone classifier's own group (`head.weight`; `head.bias` joins it without decay).
   * Defaults: the optimiser's learning rate and weight decay. SPT: weightDecay 0.5 (MAE, CUB).
   */
  readonly head?: { readonly learningRate?: number; readonly weightDecay?: number };
  /**
   * Apply weight decay to biases and parameters of rank <= 1 as well (and to `pos_embed` and
   * `cls_token`, timm's no-decay set for ViT). Default false: they get none, as in timm, SPT and
   * GatedPT (no decay on the head's bias).
   */
  readonly decayBiasesAndVectors?: boolean;
  /**
   * The linear scaling rule of VPT and VQT: every group's peak rate (the head's too) is multiplied
   * by `batchSize / reference` (reference default 256). Default: no scaling.
   * VPT: batchSize 128 for the FGVC runs; VQT: batchSize 128.
   */
  readonly batchScaling?: { readonly batchSize: number; readonly reference?: number } | null;
  /** Label smoothing of the training loss. Default 0. SCT: 0.1 on VTAB Natural and Specialized. */
  readonly labelSmoothing?: number;
  /** Clip gradients to this global L2 norm (PyTorch's clip_grad_norm_). Default null (off). */
  readonly clipGradNorm?: number | null;
  /**
   * Exponential moving average of the trainable weights, updated after every step. `evaluate`
   * (default true) evaluates (and picks the best epoch by) the averaged weights. Default null (off).
   * SPT: decay 0.9999.
   */
  readonly ema?: { readonly decay: number; readonly evaluate?: boolean } | null;
  /** Seed of every random op in training (one seed per step is drawn from it). Default 0. VPT: 42, 44, 82, 100, 800. */
  readonly seed?: number;
  /** Evaluate on the validation source every this many epochs (and after the last). Default 1. */
  readonly evaluateEvery?: number;
  /** Write a checkpoint every this many epochs (and after the last) when there is an output directory. Default 1. */
  readonly checkpointEvery?: number;
  /** What picks the best epoch. Default 'top1'. */
  readonly bestMetric?: BestMetric;
}

export interface TrainerConfig {
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: ScheduleConfig;
  readonly head: { readonly learningRate: number; readonly weightDecay: number };
  readonly decayBiasesAndVectors: boolean;
  readonly batchScaling: { readonly batchSize: number; readonly reference: number } | null;
  readonly labelSmoothing: number;
  readonly clipGradNorm: number | null;
  readonly ema: { readonly decay: number; readonly evaluate: boolean } | null;
  readonly seed: number;
  readonly evaluateEvery: number;
  readonly checkpointEvery: number;
  readonly bestMetric: BestMetric;
}

const TRAINER_KEYS = [
  'epochs', 'stepsPerEpoch', 'optimizer', 'schedule', 'head', 'decayBiasesAndVectors', 'batchScaling', 'labelSmoothing',
  'clipGradNorm', 'ema', 'seed', 'evaluateEvery', 'checkpointEvery', 'bestMetric',
] as const;

/** Validates a trainer config once and fills every default. */
export function resolveTrainerConfig(input: TrainerConfigInput): TrainerConfig {
  const raw = knownOptions('config', input, TRAINER_KEYS);
  const epochs = integer('epochs', raw.epochs, 1);
  if (raw.optimizer === undefined) throw new ConfigError('optimizer', undefined, "is required ({ kind: 'sgd' | 'adamw' | 'adam', learningRate })");
  const optimizer = resolveOptimizerConfig(raw.optimizer as OptimizerConfigInput);
  const head = knownOptions('head', raw.head, ['learningRate', 'weightDecay']);
  const scaling = raw.batchScaling === undefined || raw.batchScaling === null ? null : knownOptions('batchScaling', raw.batchScaling, ['batchSize', 'reference']);
  const ema = raw.ema === undefined || raw.ema === null ? null : knownOptions('ema', raw.ema, ['decay', 'evaluate']);
  return {
    epochs,
    stepsPerEpoch: integer('stepsPerEpoch', raw.stepsPerEpoch, 1),
    optimizer,
    schedule: resolveScheduleConfig(raw.schedule as ScheduleConfigInput | undefined, epochs),
    head: {
      learningRate: positiveNumber('head.learningRate', head.learningRate ?? optimizer.learningRate),
      weightDecay: numberInRange('head.weightDecay', head.weightDecay ?? optimizer.weightDecay, { min: 0 }),
    },
    decayBiasesAndVectors: flag('decayBiasesAndVectors', raw.decayBiasesAndVectors ?? false),
    batchScaling:
      scaling === null
        ? null
        : {
            batchSize: integer('batchScaling.batchSize', scaling.batchSize, 1),
            reference: integer('batchScaling.reference', scaling.reference ?? 256, 1),
          },
    labelSmoothing: rate('labelSmoothing', raw.labelSmoothing ?? 0),
    clipGradNorm: raw.clipGradNorm === undefined || raw.clipGradNorm === null ? null : positiveNumber('clipGradNorm', raw.clipGradNorm),
    ema:
      ema === null
        ? null
        : {
            decay: numberInRange('ema.decay', ema.decay, { min: 0, max: 1, exclusiveMax: true }),
            evaluate: flag('ema.evaluate', ema.evaluate ?? true),
          },
    seed: integer('seed', raw.seed ?? 0, 0),
    evaluateEvery: integer('evaluateEvery', raw.evaluateEvery ?? 1, 1),
    checkpointEvery: integer('checkpointEvery', raw.checkpointEvery ?? 1, 1),
    bestMetric: oneOf('bestMetric', raw.bestMetric ?? 'top1', ['top1', 'perClassAccuracy', 'loss'] as const),
  };
}

import { ConfigError, knownOptions, numberInRange, oneOf, positiveNumber } from '@visual-peft/vit-core';

/** How the learning rate moves over a run. Every kind starts with an optional linear warm-up. */
export type ScheduleKind = 'constant' | 'cosine' | 'poly';

/** 'epoch': the rate changes once per epoch (VPT, timm); 'step': at every step (MAE, SPT, mmseg's poly). */
export type ScheduleUnit = 'epoch' | 'step';

/**
 * Where the cosine's clock starts. 'after-warmup': the half cosine spans the epochs after the warm-up
 * (VPT's WarmupCosineSchedule, MAE's and SPT's per-step rule). 'whole-run': it spans the whole run
 * and the warm-up overrides its beginning (timm's CosineLRScheduler with warmup_prefix=False, which
 * SCT's timm-based training uses).
 */
export type CosineSpan = 'after-warmup' | 'whole-run';

export interface ScheduleConfigInput {
  /** 'constant', 'cosine' or 'poly'. Default 'cosine' (every classification recipe here). */
  readonly kind?: ScheduleKind;
  /** Default 'epoch' for 'constant' and 'cosine' (VPT, GatedPT, SCT), 'step' for 'poly' (mmseg). SPT: 'step'. */
  readonly unit?: ScheduleUnit;
  /**
   * Length of the linear warm-up in epochs (a whole number with unit 'epoch'). Default 0.
   * VPT, GatedPT, SPT, VQT, SCT: 10.
   */
  readonly warmupEpochs?: number;
  /** Rate at the first warm-up step. Default 0 (VPT, MAE, SPT). SCT: 1e-6. */
  readonly warmupStartLr?: number;
  /** Floor the cosine or poly decay ends at. Default 0 (VPT). SCT: 1e-5; SPT: 1e-8. */
  readonly minLr?: number;
  /** Cosine only: see `CosineSpan`. Default 'after-warmup'. */
  readonly cosineSpan?: CosineSpan;
  /** Poly only: exponent of `(1 - t / T)`. Default 0.9 (SETR, mmseg; GatedPT's ADE20K runs). */
  readonly power?: number;
}

export type ScheduleConfig = Required<ScheduleConfigInput>;

const SCHEDULE_KEYS = ['kind', 'unit', 'warmupEpochs', 'warmupStartLr', 'minLr', 'cosineSpan', 'power'] as const;

/** Validates a schedule for a run of `epochs` epochs and fills the defaults. */
export function resolveScheduleConfig(input: ScheduleConfigInput | undefined, epochs: number, field = 'schedule'): ScheduleConfig {
  const raw = knownOptions(field, input, SCHEDULE_KEYS);
  const kind = oneOf(`${field}.kind`, raw.kind ?? 'cosine', ['constant', 'cosine', 'poly'] as const);
  const unit = oneOf(`${field}.unit`, raw.unit ?? (kind === 'poly' ? 'step' : 'epoch'), ['epoch', 'step'] as const);
  const warmupEpochs = numberInRange(`${field}.warmupEpochs`, raw.warmupEpochs ?? 0, { min: 0, max: epochs });
  if (unit === 'epoch' && !Number.isInteger(warmupEpochs)) {
    throw new ConfigError(`${field}.warmupEpochs`, warmupEpochs, `must be a whole number of epochs when ${field}.unit is 'epoch'`);
  }
  return {
    kind,
    unit,
    warmupEpochs,
    warmupStartLr: numberInRange(`${field}.warmupStartLr`, raw.warmupStartLr ?? 0, { min: 0 }),
    minLr: numberInRange(`${field}.minLr`, raw.minLr ?? 0, { min: 0 }),
    cosineSpan: oneOf(`${field}.cosineSpan`, raw.cosineSpan ?? 'after-warmup', ['after-warmup', 'whole-run'] as const),
    power: positiveNumber(`${field}.power`, raw.power ?? 0.9),
  };
}

/**
 * A schedule bound to a run's length. `at(baseLr, globalStep)` is the rate of the step `globalStep`
 * (0-based, counted over the whole run) for a parameter group whose peak rate is `baseLr`; the floor
 * and the warm-up start are absolute rates shared by every group, as in timm.
 */
export class LearningRateSchedule {
  /** Length of the run and of the warm-up in the schedule's unit (epochs or steps). */
  readonly total: number;
  readonly warmup: number;

  constructor(
    readonly config: ScheduleConfig,
    readonly epochs: number,
    readonly stepsPerEpoch: number,
  ) {
    const perUnit = config.unit === 'step' ? stepsPerEpoch : 1;
    this.total = epochs * perUnit;
    this.warmup = config.warmupEpochs * perUnit;
  }

  at(baseLr: number, globalStep: number): number {
    const { kind, warmupStartLr, minLr, cosineSpan, power, unit } = this.config;
    const t = unit === 'step' ? globalStep : Math.floor(globalStep / this.stepsPerEpoch);
    if (t < this.warmup) return warmupStartLr + ((baseLr - warmupStartLr) * t) / this.warmup;
    switch (kind) {
      case 'constant':
        return baseLr;
      case 'cosine': {
        const start = cosineSpan === 'after-warmup' ? this.warmup : 0;
        const progress = Math.min(1, (t - start) / (this.total - start));
        return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
      }
      case 'poly':
        return minLr + (baseLr - minLr) * (1 - Math.min(1, t / this.total)) ** power;
    }
  }
}

/** The linear scaling rule of VPT and VQT: `lr * batchSize / reference` (reference 256). */
export function scaleLearningRate(learningRate: number, batchSize: number, reference = 256): number {
  return (learningRate * batchSize) / reference;
}

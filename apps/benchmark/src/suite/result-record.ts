import type { Diagnostic, ParameterCounts } from '@visual-peft/vit-core';

/** Version tag of a result file. Readers also take `PREVIOUS_RESULT_SCHEMA` (converting it) and refuse any other. */
export const RESULT_SCHEMA = 'visual-peft-bench/result@2';
/** Records before per-epoch diagnostics: their named diagnostics fields are converted to records on read. */
export const PREVIOUS_RESULT_SCHEMA = 'visual-peft-bench/result@1';

/** The suites `run --suite` knows. */
export type SuiteName = 'demo' | 'fgvc' | 'vtab-1k' | 'ade20k';
export const SUITE_NAMES: readonly SuiteName[] = ['demo', 'fgvc', 'vtab-1k', 'ade20k'];

/** A task's group in the papers' tables: VTAB-1k's three groups, or the suite's own name elsewhere. */
export type TaskGroup = 'natural' | 'specialized' | 'structured' | 'fgvc' | 'ade20k' | 'demo';
export const TASK_GROUPS: readonly TaskGroup[] = ['natural', 'specialized', 'structured', 'fgvc', 'ade20k', 'demo'];

/** One (method x task x seed x backbone) of a suite: the unit the store, shards and reports count. */
export interface JobKey {
  /** Stable, filename-safe id: `${backbone}__${task}__${method}__seed${seed}`, a variant's method as `sct@selection=random` (`variantId`). */
  readonly id: string;
  /** The suite's name of the method, a variant's with its options: `sct[selection=random]`. */
  readonly method: string;
  readonly task: string;
  readonly group: TaskGroup;
  readonly seed: number;
  /** The backbone's name as the suite gives it (a preset, a checkpoint's file stem, a demo backbone). */
  readonly backbone: string;
}

/** One point of the learning-rate x weight-decay grid, scored on the validation split. */
export interface GridPoint {
  readonly learningRate: number;
  readonly weightDecay: number;
  /**
   * Validation top-1 (or mIoU for segmentation) in [0, 1]; null when training diverged (failure
   * says why) or when the grid is this single point, which is then not searched (failure null).
   */
  readonly score: number | null;
  /** Why score is null (e.g. "diverged at epoch 3: loss NaN"), else null. */
  readonly failure: string | null;
}

/**
 * What the methods reported after one epoch of the final run (an iteration-based run: once, after
 * its last iteration, at the epoch of its data it ended in): each method's typed records
 * (`TuningMethod.diagnostics`), by the method's own name.
 */
export interface EpochDiagnostics {
  /** 0-based; -1 for those collected before the first epoch (with the initial weights), the first entry when present. */
  readonly epoch: number;
  readonly methods: Readonly<Record<string, readonly Diagnostic[]>>;
}

/**
 * The final run's diagnostics: before training (epoch -1), then epoch by epoch. `channels` records are kept for the last epoch only:
 * every channel's score of every block each epoch would make a result file megabytes.
 */
export type Diagnostics = readonly EpochDiagnostics[];

/** Schema 1's named diagnostics, each present only for the methods that had it; read and converted, never written. */
export interface LegacyDiagnostics {
  readonly gateSelectionRatios?: readonly number[];
  readonly temperatures?: readonly number[];
  readonly nmiPerEpoch?: readonly number[];
  readonly queryBlockImportance?: readonly number[];
  readonly salientChannels?: readonly (readonly number[])[];
  readonly channelScores?: readonly (readonly number[])[];
}

/** What produced a number: recorded with every result. */
export interface RunEnvironment {
  readonly backend: string;
  readonly backendPackage: string;
  readonly backendVersion: string;
  readonly device: string;
  readonly tfjsCoreVersion: string;
  readonly node: string;
  /** Versions of the @visual-peft/* packages used. */
  readonly packages: Readonly<Record<string, string>>;
  readonly hostname: string;
}

/** What a two-stage job's first stage did, kept in its record. */
export interface FirstStage {
  /** The first stage's registry method. */
  readonly method: string;
  readonly protocol: ResultRecord['protocol'];
  readonly metric: ResultRecord['metric'];
  readonly parameters: ParameterCounts;
  readonly seconds: number;
}

/** VQT's head compressed by group lasso: the settings, the head's input width before and after, test top-1 before and after. */
export interface Compression {
  readonly keepFraction: number;
  readonly penalty: number;
  readonly featuresBefore: number;
  readonly featuresAfter: number;
  readonly top1Before: number;
  readonly top1After: number;
}

/** A job's kept tuned weights, relative to the store (a record's `weights`): a folder `predict --run` and `export --run` read. */
export const weightsFolder = (id: string): string => `weights/${id}`;

/** One finished job, as `results/<job id>.json` in the output directory (written atomically). */
export interface ResultRecord {
  readonly schema: typeof RESULT_SCHEMA;
  readonly suite: SuiteName;
  /** Hash of the resolved suite configuration; a store holds the results of one configuration only. */
  readonly suiteHash: string;
  readonly job: JobKey;
  readonly protocol: {
    /** The grid searched on trainSplit -> validationSplit; one point when the suite fixes lr and wd. */
    readonly grid: readonly GridPoint[];
    readonly chosen: { readonly learningRate: number; readonly weightDecay: number };
    /** Splits of the search and of the final run, e.g. train800 / val200 and train800val200 / test. */
    readonly searchSplits: { readonly train: string; readonly validation: string };
    readonly finalSplits: { readonly train: string; readonly test: string };
    /** Training epochs; 0 for an iteration-based run (ADE20K), which gives `iterations` instead. */
    readonly epochs: number;
    readonly iterations?: number;
    readonly batchSize: number;
    readonly optimizer: string;
    /** The method's options as resolved (the method's own config). */
    readonly options: Readonly<Record<string, unknown>>;
    /** The backbone family the recipe was resolved for. Absent in older records and ADE20K's. */
    readonly family?: string;
    /** The classifier trained: pooling, the LayerNorm after it, the head's init. Absent in older records and ADE20K's. */
    readonly head?: { readonly pool: 'token' | 'avg'; readonly norm: 'checkpoint' | 'from-norm' | 'fresh'; readonly init: string; readonly std: number | null };
    /** A two-stage method's first stage (tuned, then frozen under the second): its own protocol, test metric, parameters and seconds. */
    readonly firstStage?: FirstStage;
    /** Group-lasso compression after the final run (VQT Sec. 3.3); `metric` is then the compressed model's. */
    readonly compression?: Compression;
  };
  /** The headline metric on the test split (ADE20K: validation, single-scale sliding window), in [0, 1]. */
  readonly metric: { readonly name: 'top1' | 'mIoU'; readonly value: number };
  readonly parameters: ParameterCounts;
  readonly timing: {
    /** Wall seconds of the whole job, grid search included. */
    readonly seconds: number;
    /** Median wall seconds of one training step of the final run. */
    readonly stepSeconds: number;
    /** Peak tensor bytes of one profiled training step (tf.profile). */
    readonly peakBytes: number;
    /**
     * Images per forward and backward pass of the final run (`--micro-batch`; the batch size when
     * the batch ran whole). It changes the timing and the peak, not the result. Absent in records
     * written before micro-batches existed.
     */
    readonly microBatch?: number;
    /** Whether blocks were recomputed in the backward pass (`--recompute`). Absent in older records. */
    readonly recompute?: boolean;
  };
  readonly diagnostics: Diagnostics;
  /**
   * The folder of the job's final tuned weights, relative to the store (`weights/<job id>`: `tuned.safetensors`,
   * `tuned.json`, `job.json`, a two-stage job's `stage1/`), for `predict --run` and `export --run`.
   * Absent: not kept (`run --no-weights`, ADE20K, records written before weights were kept).
   */
  readonly weights?: string;
  readonly environment: RunEnvironment;
  /** ISO time the job finished. */
  readonly finishedAt: string;
}

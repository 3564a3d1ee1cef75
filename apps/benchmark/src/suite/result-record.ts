import type { ParameterCounts } from '@visual-peft/vit-core';

/** Version tag of a result file; readers refuse any other. */
export const RESULT_SCHEMA = 'visual-peft-bench/result@1';

/** The suites `run --suite` knows. */
export type SuiteName = 'demo' | 'fgvc' | 'vtab-1k' | 'ade20k';
export const SUITE_NAMES: readonly SuiteName[] = ['demo', 'fgvc', 'vtab-1k', 'ade20k'];

/** A task's group in the papers' tables: VTAB-1k's three groups, or the suite's own name elsewhere. */
export type TaskGroup = 'natural' | 'specialized' | 'structured' | 'fgvc' | 'ade20k' | 'demo';
export const TASK_GROUPS: readonly TaskGroup[] = ['natural', 'specialized', 'structured', 'fgvc', 'ade20k', 'demo'];

/** One (method x task x seed x backbone) of a suite: the unit the store, shards and reports count. */
export interface JobKey {
  /** Stable, filename-safe id: `${backbone}__${task}__${method}__seed${seed}`. */
  readonly id: string;
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

/** Method-specific measurements the report plots; each present only for the methods that have it. */
export interface Diagnostics {
  /** GatedPT: the paper's selection ratio r_l per block after training (eq. 10-11; Figure 4). */
  readonly gateSelectionRatios?: readonly number[];
  /** GatedPT: learned attention temperature tau_l per block after training. */
  readonly temperatures?: readonly number[];
  /** Prompt methods (SPT, VPT): prompt-patch NMI per epoch of the final training (SPT's Figure 2). */
  readonly nmiPerEpoch?: readonly number[];
  /** VQT: per block, the share of the head's weight norm on that block's query features (sums to 1). */
  readonly queryBlockImportance?: readonly number[];
  /** SCT: per block, the selected channel indices (ascending). */
  readonly salientChannels?: readonly (readonly number[])[];
  /** SCT: per block, the class-aware importance score of every channel. */
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
  readonly environment: RunEnvironment;
  /** ISO time the job finished. */
  readonly finishedAt: string;
}

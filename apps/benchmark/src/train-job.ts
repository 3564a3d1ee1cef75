import { resolve } from 'node:path';
import type { ClassificationSplit, DatasetBatchSource, PipelinePresetName } from '@visual-peft/datasets';
import { createBatchSource, pipelinePreset } from '@visual-peft/datasets';
import type { EpochSummary, MethodDiagnostics, ProgressEvent, TrainResult, TrainerConfigInput, TunedRunInfo } from '@visual-peft/training';
import { INITIAL_DIAGNOSTICS_EPOCH, Trainer, readTunedWeights, restoreTunedTensors } from '@visual-peft/training';
import type { BatchSource, HeadInit, ImageBatch, StateDict, TuningMethod, VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, VisualPeftError, applyTrainablePolicy, deriveSeed, loadStateDict } from '@visual-peft/vit-core';
import { UsageError } from './errors';
import type { MicroBatchChoice, MicroBatchSetting } from './step/micro-batch';
import { chooseMicroBatch, probeMicroBatch } from './step/micro-batch';
import type { MethodEntry } from './methods';
import { buildMethod } from './methods';
import type { OptionValue } from './set-options';
import type { Diagnostics } from './suite/result-record';

/** Pretrained backbone weights: read by `train`, and by `run` once per run of consecutive jobs on that backbone. */
export interface BackboneWeights {
  /** The checkpoint's path, for messages. */
  readonly source: string;
  readonly stateDict: StateDict;
}

/** The fresh classifier of a run and where an average-pooled backbone's LayerNorm comes from. */
export interface HeadSetup {
  readonly init: HeadInit;
  /** The 'timm' init's std; null: 0.02. */
  readonly std: number | null;
  /**
   * For a backbone with `fcNorm` (average pooling): the checkpoint's `fc_norm` ('checkpoint'), its
   * final `norm` ('from-norm', MAE read as GatedPT and SPT read it), or a fresh one ('fresh').
   */
  readonly norm: 'checkpoint' | 'from-norm' | 'fresh';
}

/** A run's classifier when its spec names none: timm's init (std 0.02) and the checkpoint's fc_norm. */
export const DEFAULT_HEAD: HeadSetup = { init: 'timm', std: null, norm: 'checkpoint' };

/** One training run: a method on a backbone, one split, one learning rate and weight decay, one seed. */
export interface TrainJobSpec {
  /** The backbone's config with the task's class count. */
  readonly backbone: VitConfig;
  /** Null: a randomly initialised backbone. */
  readonly weights: BackboneWeights | null;
  readonly method: MethodEntry;
  readonly options: Readonly<Record<string, unknown>>;
  /** The classifier's initialisation and pooled norm. Default: timm's init (std 0.02), the checkpoint's norm. */
  readonly head?: HeadSetup;
  readonly train: ClassificationSplit;
  /** Evaluated by the trainer (every `trainer.evaluateEvery` epochs); null: none. */
  readonly validation: ClassificationSplit | null;
  readonly pipelines: { readonly train: PipelinePresetName; readonly eval: PipelinePresetName };
  readonly batchSize: number;
  /** Seeds the backbone's fresh head, the methods' defaults, the batch order and every random op of training. */
  readonly seed: number;
  readonly trainer: Omit<TrainerConfigInput, 'stepsPerEpoch' | 'seed'>;
  /** Checkpoints go here; a second call with the same spec resumes from them. */
  readonly outputDir: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ProgressEvent) => unknown;
  /** Images per forward and backward pass, or `auto` with its memory budget. Default: the whole batch. */
  readonly microBatch?: MicroBatchSetting;
  /** Per-block activation checkpointing in training passes. Default false. */
  readonly recompute?: boolean;
  /** Told the micro-batch before training starts (for `auto`, after its probe passes). */
  readonly onMicroBatch?: (choice: MicroBatchChoice) => void;
  /**
   * Ask the methods for their diagnostics after every epoch (recorded in the trainer's history):
   * `images` gives the fixed probe (its first batch through the evaluation pipeline), `source` the
   * labelled split read through the evaluation pipeline (null: none). Default: none.
   */
  readonly diagnostics?: { readonly images: ClassificationSplit; readonly source: ClassificationSplit | null };
  /**
   * A tuned first stage to train over (a two-stage method): the method and its tuned weights
   * (`saveTunedWeights`), attached before `method` and frozen; only `method` trains. Default: none.
   */
  readonly frozen?: FrozenStage;
  /** The identity of the run's inputs (checkpoint SHA-256, data fingerprint): resuming `outputDir` requires the same. */
  readonly inputs?: Readonly<Record<string, unknown>>;
}

/** A first stage's method, the options it was built with and the tuned-weights file its run saved. */
export interface FrozenStage {
  readonly method: MethodEntry;
  readonly options: Readonly<Record<string, unknown>>;
  readonly weights: string;
}

/** What a finished (or stopped) run leaves for its caller to inspect before everything is freed. */
export interface TrainedJob {
  readonly model: VisionTransformer;
  readonly methods: readonly TuningMethod[];
  readonly trainer: Trainer;
  readonly result: TrainResult;
  /** A batch source over any split with this run's evaluation pipeline and batch size. */
  evalSource(split: ClassificationSplit): DatasetBatchSource;
}

/** What the model and methods look like just before training starts (checkpoints not yet restored). */
export interface TrainSetup {
  readonly model: VisionTransformer;
  readonly methods: readonly TuningMethod[];
  readonly trainer: Trainer;
  readonly trainSource: DatasetBatchSource;
  evalSource(split: ClassificationSplit): DatasetBatchSource;
}

/**
 * A run's diagnostics for its record (`run`) or result (`train`): those collected before the first epoch (epoch -1,
 * `INITIAL_DIAGNOSTICS_EPOCH`), then every epoch's, except `channels` records, kept for the last epoch only (every
 * channel's score of every block each epoch would make the file megabytes).
 */
export function recordedDiagnostics(history: readonly EpochSummary[], initial: MethodDiagnostics | null = null): Diagnostics {
  const last = history.at(-1)?.epoch;
  const keep = (epoch: number, diagnostics: MethodDiagnostics) =>
    Object.fromEntries(Object.entries(diagnostics).map(([method, records]) => [method, epoch === last ? records : records.filter((record) => record.kind !== 'channels')]));
  const entries = history.flatMap(({ epoch, diagnostics }) => (diagnostics === undefined ? [] : [{ epoch, methods: keep(epoch, diagnostics) }]));
  return initial === null ? entries : [{ epoch: INITIAL_DIAGNOSTICS_EPOCH, methods: keep(INITIAL_DIAGNOSTICS_EPOCH, initial) }, ...entries];
}

/**
 * What `loadTunedModel` needs beyond a run's tensors, saved with its tuned weights: the class names
 * (where the split has them) and the frozen backbone's source (the checkpoint's absolute path and
 * `fc_norm` source, or the seed `trainJob` drew a random backbone with).
 */
export function tunedRunInfo(split: ClassificationSplit, weights: BackboneWeights | null, seed: number, head: HeadSetup): TunedRunInfo {
  return {
    ...(split.classNames === undefined ? {} : { classNames: split.classNames }),
    backboneInit: weights === null ? { weights: null, seed } : { weights: resolve(weights.source), fcNorm: head.norm },
  };
}

/** The first batch a source yields in epoch 0. */
export async function firstBatch(source: BatchSource): Promise<ImageBatch> {
  const iterator = source(0)[Symbol.asyncIterator]();
  const first = await iterator.next();
  await iterator.return?.();
  if (first.done === true) throw new VisualPeftError('the training split yields no batch: it has fewer images than the batch size');
  return first.value;
}

/**
 * The micro-batch of a run: the whole batch, a fixed number, or for `auto` the rule of
 * `chooseMicroBatch` on two probe passes of a trainer built for them (and freed) on the first batch.
 */
async function resolveMicroBatch(setting: MicroBatchSetting | undefined, batchSize: number, probeTrainer: () => Trainer, source: BatchSource): Promise<MicroBatchChoice> {
  if (setting === undefined) return { microBatch: batchSize, batchSize, auto: null };
  if (typeof setting === 'number') return { microBatch: Math.min(setting, batchSize), batchSize, auto: null };
  if (batchSize === 1) return { microBatch: 1, batchSize, auto: null };
  const trainer = probeTrainer();
  try {
    return chooseMicroBatch(batchSize, setting.auto, await probeMicroBatch(trainer, await firstBatch(source)));
  } finally {
    trainer.dispose();
  }
}

/** The site of the head's draw in `deriveSeed` (apart from the batch order and the methods' draws). */
const HEAD_SEED_SITE = 0x4845_4144;

/**
 * Trains one method on one split: the unit shared by `train` and every grid point and final run of
 * `run`. Builds the backbone (pretrained weights with a fresh head of the split's classes), the
 * method, its data-dependent initialisation (SCT's channels, SPT's prompts) on the unaugmented
 * training split, then fits with the trainer, resuming from `outputDir`. `inspect` sees the trained
 * model before it is freed; `setup`, when given, sees it before training and may return the train
 * source to use instead (one that watches epochs start).
 */
export async function trainJob<T>(
  spec: TrainJobSpec,
  inspect: (trained: TrainedJob) => Promise<T>,
  setup?: (prepared: TrainSetup) => Promise<BatchSource | undefined>,
): Promise<T> {
  const { backbone, batchSize, seed } = spec;
  if (backbone.imgSize[0] !== backbone.imgSize[1]) throw new UsageError(`the backbone's imgSize must be square for the dataset pipelines, got [${backbone.imgSize.join(', ')}]`);
  const imageSize = backbone.imgSize[0];
  const model = new VisionTransformer(backbone, { seed, weights: spec.weights === null ? 'random' : 'zeros' });
  const methods: TuningMethod[] = [];
  const frozen: TuningMethod[] = [];
  let trainer: Trainer | undefined;
  try {
    const head = spec.head ?? DEFAULT_HEAD;
    if (spec.weights !== null) loadStateDict(model, spec.weights.stateDict, { source: spec.weights.source, head: 'discard', fcNorm: head.norm });
    // A fresh head drawn as the method's official code draws it (the zeros above only spared a draw the checkpoint overwrites).
    model.resetHead(backbone.numClasses, { init: head.init, ...(head.std === null ? {} : { std: head.std }), seed: deriveSeed(seed, HEAD_SEED_SITE) });
    if (spec.frozen !== undefined) {
      // The first stage as it was tuned (its methods attached first, any backbone weight it trained);
      // the policy below then freezes the backbone, and its methods stay out of the trainer's list.
      const { tensors } = await readTunedWeights(spec.frozen.weights);
      frozen.push(...buildMethod(spec.frozen.method, model, spec.frozen.options as Record<string, OptionValue>));
      restoreTunedTensors(model, frozen, tensors, spec.frozen.weights);
    }
    applyTrainablePolicy(model, spec.method.policy);
    methods.push(...buildMethod(spec.method, model, spec.options as Record<string, OptionValue>));
    const loader = { batchSize, seed };
    const evalPipeline = pipelinePreset(spec.pipelines.eval, { imageSize });
    const evalSource = (split: ClassificationSplit) => createBatchSource(split, { ...loader, pipeline: evalPipeline });
    const trainSource = createBatchSource(spec.train, { ...loader, pipeline: pipelinePreset(spec.pipelines.train, { imageSize }), shuffle: true, dropLast: true });
    // Data-dependent initialisation on the unaugmented training split, shuffled by the run's seed so
    // that a method reading one batch (SPT's pooling and random tokens) reads a random one, as the
    // paper draws it; a method that needs the backbone without itself switches itself off
    // (model.disableExtensions).
    const prepareSource = createBatchSource(spec.train, { ...loader, pipeline: evalPipeline, shuffle: true });
    for (const method of methods) await method.prepare?.(prepareSource);
    const config = { ...spec.trainer, stepsPerEpoch: trainSource.batchesPerEpoch, seed };
    const recompute = spec.recompute ?? false;
    const choice = await resolveMicroBatch(spec.microBatch, batchSize, () => new Trainer(model, methods, config, { recompute }), trainSource);
    spec.onMicroBatch?.(choice);
    const diagnostics =
      spec.diagnostics === undefined
        ? {}
        : { diagnostics: { images: await firstBatch(evalSource(spec.diagnostics.images)), source: spec.diagnostics.source === null ? null : evalSource(spec.diagnostics.source) } };
    trainer = new Trainer(model, methods, config, { recompute, microBatch: choice.microBatch, ...diagnostics, ...(spec.inputs === undefined ? {} : { inputs: spec.inputs }) });
    const replaced = await setup?.({ model, methods, trainer, trainSource, evalSource });
    const result = await trainer.fit({
      train: replaced ?? trainSource,
      ...(spec.validation === null ? {} : { validation: evalSource(spec.validation) }),
      outputDir: spec.outputDir,
      ...(spec.signal === undefined ? {} : { signal: spec.signal }),
      ...(spec.onProgress === undefined ? {} : { onProgress: spec.onProgress }),
    });
    return await inspect({ model, methods, trainer, result, evalSource });
  } finally {
    trainer?.dispose();
    methods.forEach((method) => method.dispose());
    frozen.forEach((method) => method.dispose());
    model.dispose();
  }
}

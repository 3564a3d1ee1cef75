import { SeededRandom } from '@visual-peft/vit-core';
import type { RandomState } from '@visual-peft/vit-core';
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, HostTensor, ImageBatch, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, FormatError, asMissingGradient, flag, integer, knownOptions, leanVariableGrads } from '@visual-peft/vit-core';
import { batchTensors, checkBatch, checkLogits, sliceBatch } from './batch-tensors';
import { clipGradNorm, globalNorm } from './clip-grad-norm';
import { createOptimizer } from './create-optimizer';
import type { DiagnosticsOptions, MethodDiagnostics } from './diagnostics';
import { INITIAL_DIAGNOSTICS_EPOCH, checkDiagnosticsOptions, collectDiagnostics } from './diagnostics';
import { DivergenceError } from './errors';
import { firstDifference } from './fingerprint';
import type { EvaluationResult } from './evaluate';
import { evaluate } from './evaluate';
import { softmaxCrossEntropy } from './loss';
import type { Optimizer } from './optimizer';
import type { ClassifiedParameter } from './parameter-groups';
import { collectTrainableParameters, groupParameters } from './parameter-groups';
import { LearningRateSchedule, scaleLearningRate } from './schedule';
import type { BestMetric, TrainerConfig, TrainerConfigInput } from './trainer-config';
import { resolveTrainerConfig } from './trainer-config';
import type { TrainerStore, TrainingCheckpoint } from './trainer-store';
import { storeForOutputDir } from './trainer-store';
import type { ForwardPassContext, TrainingForward } from './training-forward';
import { modelForward } from './training-forward';
import { encodeTunedWeightsWithManifest, restoreTunedTensors, tunedTensors } from './tuned-weights';
import { WeightEma } from './weight-ema';

/** After every training step. Epochs and steps are 0-based: a progress bar shows `step + 1` of `stepsPerEpoch`. */
export interface StepEvent {
  readonly type: 'step';
  readonly epoch: number;
  readonly epochs: number;
  /** The step just finished, within its epoch. */
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** The step just finished, counted over the run. */
  readonly globalStep: number;
  readonly totalSteps: number;
  /** Training loss of the step (label smoothing and any penalty included). */
  readonly loss: number;
  /** Global L2 norm of the gradients, before clipping. */
  readonly gradientNorm: number;
  /** The first group's learning rate in this step (the method's, or the head's in a linear probe). */
  readonly learningRate: number;
  /** Every group's learning rate in this step, by group name. */
  readonly learningRates: Readonly<Record<string, number>>;
  /** Training images per second since this `fit` started. */
  readonly imagesPerSecond: number;
  /** Seconds left at this session's average pace (evaluation and checkpoints included). */
  readonly etaSeconds: number;
}

/** What one epoch did. */
export interface EpochSummary {
  readonly epoch: number;
  /** Mean training loss of the epoch's steps. */
  readonly trainLoss: number;
  /** The first group's learning rate in the epoch's last step. */
  readonly learningRate: number;
  /** Metrics on the validation source, when it was evaluated after this epoch. */
  readonly evaluation: EvaluationResult | null;
  /**
   * What each attached method's `diagnostics(probe)` reported after this epoch, by method name;
   * present when `TrainerOptions.diagnostics` is set.
   */
  readonly diagnostics?: MethodDiagnostics;
}

/** The best evaluated epoch so far by `bestMetric`. */
export interface BestEpoch {
  readonly epoch: number;
  readonly metric: BestMetric;
  readonly value: number;
  readonly evaluation: EvaluationResult;
}

/** After every epoch: its summary, the best epoch so far, and the checkpoint written, if any. */
export interface EpochEvent extends EpochSummary {
  readonly type: 'epoch';
  readonly epochs: number;
  readonly best: BestEpoch | null;
  /** This epoch became the best. */
  readonly improved: boolean;
  /** Path of the checkpoint written after this epoch, or null. */
  readonly checkpoint: string | null;
}

export type ProgressEvent = StepEvent | EpochEvent;

export interface FitOptions {
  /** Training batches; called once per epoch with the 0-based epoch (which seeds its shuffle). */
  readonly train: BatchSource;
  /** Evaluation batches for metrics and best-epoch tracking. Default: none. */
  readonly validation?: BatchSource;
  /**
   * Where checkpoints (`checkpoint.json` and its tensor file) and the best epoch's tuned weights
   * (`best.safetensors` / `best.json`) go. When it already holds a checkpoint of the same run, the
   * run resumes from it. Default: none (nothing is written). Node only (the `node` build of this
   * package); in a browser, pass a `store`.
   */
  readonly outputDir?: string;
  /**
   * Where checkpoints and the best epoch's weights go instead of `outputDir` (give one of the two):
   * resuming reads its checkpoint the same way.
   */
  readonly store?: TrainerStore;
  /** Receives step and epoch events; when it returns a promise, training waits for it. */
  readonly onProgress?: (event: ProgressEvent) => unknown;
  /**
   * Stops the run after the current step. With `outputDir` or a `store`, a checkpoint of that step
   * is written first (within an epoch too), so that the run resumes there.
   */
  readonly signal?: AbortSignal;
  /** Clock in milliseconds for throughput and ETA. Default `performance.now`. */
  readonly now?: () => number;
}

export interface TrainResult {
  /** 'stopped' when the signal aborted the run. */
  readonly status: 'completed' | 'stopped';
  readonly epochsCompleted: number;
  readonly steps: number;
  /** Every completed epoch, resumed ones included. */
  readonly history: readonly EpochSummary[];
  readonly best: BestEpoch | null;
  /** Where a resumed run picked up, or null. */
  readonly resumedFrom: { readonly epoch: number; readonly step: number } | null;
  /**
   * What each attached method's `diagnostics(probe)` reported before the first epoch, with the
   * initial weights (probe epoch `INITIAL_DIAGNOSTICS_EPOCH`, -1): SPT's Figure 2 is about this
   * value. Present when `TrainerOptions.diagnostics` is set; a resumed run returns what its
   * checkpoint kept (null for a checkpoint written without it) and never collects it again.
   */
  readonly initialDiagnostics: MethodDiagnostics | null;
}

export interface TrainerOptions {
  /** How images become logits in training and evaluation. Default `modelForward(model)`. */
  readonly forward?: TrainingForward;
  /**
   * Images per forward and backward pass (gradient accumulation): a batch of B images runs as
   * ceil(B / microBatch) passes whose gradients add up to the whole batch's, then one optimiser
   * step, so the update is the whole batch's while only one pass's activations are held. A setting
   * of how the run executes, not of what it computes: it is no part of the checkpoint's
   * fingerprint, and a run may resume with another. Default: the whole batch in one pass.
   */
  readonly microBatch?: number;
  /**
   * Per-block activation checkpointing in training passes (`ForwardPassContext.recompute`): blocks
   * are recomputed in the backward pass instead of keeping their activations. Default false.
   */
  readonly recompute?: boolean;
  /**
   * Before the first epoch and after each, every attached method's `diagnostics(probe)` runs on
   * these fixed images (and the labelled training source, when given); the records go into
   * `TrainResult.initialDiagnostics` and each epoch's history entry, which checkpoints keep
   * (`channels` records in the latest epoch's only). They run like evaluation: evaluation mode, off the gradient tape, with
   * the averaged weights when `config.ema.evaluate`; tensors a method leaves are freed. Default: none.
   */
  readonly diagnostics?: DiagnosticsOptions;
  /**
   * The identity of what the run reads beyond its model and config, as JSON (e.g. the backbone
   * checkpoint's SHA-256 and a fingerprint of the data): part of the checkpoint's fingerprint, so a
   * run whose inputs were swapped under the same names is refused instead of resumed. Default: none
   * (and checkpoints written without it resume as before).
   */
  readonly inputs?: Readonly<Record<string, unknown>>;
}

/** Where a training step's passes are: the step's seed (shared by its micro-batches) and its place in the run. */
export interface StepPass {
  readonly seed: number;
  /** 0-based epoch. */
  readonly epoch: number;
  /** Steps completed before this one, over the whole run. */
  readonly globalStep: number;
}

/** A batch's loss and gradients, as a training step computes them before clipping and the update. */
export interface BatchGradients {
  /** The batch's mean loss (label smoothing and any penalty included). */
  readonly loss: tf.Scalar;
  /** Each trainable parameter's gradient, by parameter key. */
  readonly gradients: Map<string, tf.Tensor>;
}

const TRAINER_OPTIONS = ['forward', 'microBatch', 'recompute', 'diagnostics', 'inputs'] as const;

/** `a + b` as a new tensor; both inputs are freed. */
function addInto<T extends tf.Tensor>(a: T, b: T): T {
  const sum = tf.add(a, b) as T;
  tf.dispose([a, b]);
  return sum;
}

/**
 * Trains the declared trainable variables of a model and its attached tuning methods: each method's
 * `trainableVariables()` plus every backbone weight whose `trainable` flag is set (the head, after
 * `applyTrainablePolicy(model, 'linear')`). Nothing else changes. One `fit` per trainer; to resume
 * after a stop, build a new trainer (same model, methods and config) and fit with the same `outputDir`.
 */
export class Trainer {
  readonly config: TrainerConfig;
  readonly parameters: readonly ClassifiedParameter[];
  readonly optimizer: Optimizer;
  readonly schedule: LearningRateSchedule;
  /** The weight average, when `config.ema` is set. */
  readonly ema: WeightEma | null;
  /** Images per forward and backward pass, or null for the whole batch. */
  readonly microBatch: number | null;
  /** Whether training passes recompute each block in the backward pass. */
  readonly recompute: boolean;
  private readonly forward: TrainingForward;
  private readonly diagnostics: DiagnosticsOptions | null;
  private readonly inputs: Readonly<Record<string, unknown>> | null;
  private random: SeededRandom;
  private epochsDone = 0;
  private stepsDone = 0;
  private history: EpochSummary[] = [];
  private best: BestEpoch | null = null;
  private initialDiagnostics: MethodDiagnostics | null = null;
  /** Set by a checkpoint written within an epoch (a stop): the steps of that epoch done and their loss sum. */
  private partialEpoch: PartialEpoch | null = null;
  private started = false;

  constructor(
    readonly model: VisionTransformer,
    readonly methods: readonly TuningMethod[],
    config: TrainerConfigInput,
    options: TrainerOptions = {},
  ) {
    this.config = resolveTrainerConfig(config);
    const runtime = knownOptions('options', options, TRAINER_OPTIONS);
    if (runtime.inputs !== undefined && (runtime.inputs === null || typeof runtime.inputs !== 'object' || Array.isArray(runtime.inputs))) throw new ConfigError('inputs', runtime.inputs, 'must be an object');
    this.inputs = runtime.inputs ?? null;
    this.microBatch = runtime.microBatch === undefined ? null : integer('microBatch', runtime.microBatch, 1);
    this.recompute = flag('recompute', runtime.recompute ?? false);
    for (const method of methods) {
      if (!model.extensions.includes(method)) throw new ConfigError('methods', method.name, 'must be attached to the model before training (model.attach(method))');
    }
    this.parameters = collectTrainableParameters(model, methods);
    if (this.parameters.length === 0) {
      throw new ConfigError('trainable variables', 0, 'must not be empty: attach a method or set a policy with applyTrainablePolicy');
    }
    const { optimizer, head, batchScaling } = this.config;
    const scale = (rate: number) => (batchScaling === null ? rate : scaleLearningRate(rate, batchScaling.batchSize, batchScaling.reference));
    const groups = groupParameters(this.parameters, {
      learningRate: scale(optimizer.learningRate),
      weightDecay: optimizer.weightDecay,
      head: { learningRate: scale(head.learningRate), weightDecay: head.weightDecay },
      decayBiasesAndVectors: this.config.decayBiasesAndVectors,
    });
    this.optimizer = createOptimizer(optimizer, groups);
    this.schedule = new LearningRateSchedule(this.config.schedule, this.config.epochs, this.config.stepsPerEpoch);
    this.ema = this.config.ema === null ? null : new WeightEma(this.parameters, this.config.ema.decay);
    this.random = new SeededRandom(this.config.seed);
    this.forward = options.forward ?? modelForward(model);
    this.diagnostics = runtime.diagnostics === undefined ? null : checkDiagnosticsOptions(model, runtime.diagnostics);
  }

  /** Epochs completed. */
  get epoch(): number {
    return this.epochsDone;
  }

  /** Steps completed over the run. */
  get step(): number {
    return this.stepsDone;
  }

  /** Each group's learning rate at a step of the run (0-based). */
  learningRates(globalStep: number): number[] {
    return this.optimizer.groups.map((group) => this.schedule.at(group.learningRate, globalStep));
  }

  /** Trains until the last epoch (or the signal), resuming from `outputDir`'s checkpoint when there is one. */
  async fit(options: FitOptions): Promise<TrainResult> {
    if (this.started) throw new ConfigError('fit', 'a second call', 'may run once per Trainer; build a new Trainer with the same outputDir to resume');
    this.started = true;
    const { train, validation, outputDir, onProgress, signal } = options;
    if (outputDir !== undefined && options.store !== undefined) throw new ConfigError('outputDir', outputDir, 'must not be given with a store: give one of the two');
    const store = options.store ?? (outputDir === undefined ? null : storeForOutputDir(outputDir));
    const now = options.now ?? (() => performance.now());
    // A function, not a field read: TypeScript would narrow `aborted` to false after the first check.
    const stopRequested = () => signal?.aborted === true;
    let resumedFrom: TrainResult['resumedFrom'] = null;
    // The global step of the last checkpoint written or read: a stop after it writes one more.
    let checkpointedStep = -1;
    if (store !== null) {
      const checkpoint = await store.readCheckpoint();
      if (checkpoint !== null) {
        this.restore(checkpoint, store, outputDir === undefined ? 'store' : 'outputDir');
        resumedFrom = { epoch: this.epochsDone, step: this.stepsDone };
        checkpointedStep = this.stepsDone;
      }
    }
    const stop = async (partial: PartialEpoch | null) => {
      if (store !== null && checkpointedStep !== this.stepsDone) await this.writeCheckpoint(store, partial);
      return result('stopped');
    };
    const { epochs, stepsPerEpoch, evaluateEvery, checkpointEvery } = this.config;
    const totalSteps = epochs * stepsPerEpoch;
    const startedAt = now();
    let sessionSteps = 0;
    let sessionImages = 0;
    const result = (status: TrainResult['status']): TrainResult => ({
      status,
      epochsCompleted: this.epochsDone,
      steps: this.stepsDone,
      history: [...this.history],
      best: this.best,
      resumedFrom,
      initialDiagnostics: this.initialDiagnostics,
    });

    // Once per run, at initialisation: a resumed run has it from its checkpoint (or never had it).
    if (this.diagnostics !== null && resumedFrom === null) this.initialDiagnostics = await this.collectDiagnostics(this.diagnostics, INITIAL_DIAGNOSTICS_EPOCH);

    while (this.epochsDone < epochs) {
      if (stopRequested()) return stop(null);
      const epoch = this.epochsDone;
      // Resumed within an epoch: its first batches are read again (the source's order and draws stay those of an unbroken run) but not trained on.
      const resumedWithin = this.partialEpoch;
      this.partialEpoch = null;
      let step = 0;
      let lossSum = resumedWithin?.lossSum ?? 0;
      let learningRate = resumedWithin?.learningRate ?? 0;
      for await (const batch of train(epoch)) {
        if (step === stepsPerEpoch) {
          throw new ConfigError('stepsPerEpoch', stepsPerEpoch, `must equal the number of batches the train source yields (epoch ${epoch} yielded more)`);
        }
        if (resumedWithin !== null && step < resumedWithin.step) {
          step += 1;
          continue;
        }
        const rates = this.learningRates(this.stepsDone);
        const { loss, gradientNorm } = await this.trainStep(batch, epoch, step, rates);
        const globalStep = this.stepsDone;
        this.stepsDone += 1;
        sessionSteps += 1;
        sessionImages += batch.shape[0];
        lossSum += loss;
        learningRate = rates[0]!;
        const elapsedSeconds = (now() - startedAt) / 1000;
        await onProgress?.({
          type: 'step',
          epoch,
          epochs,
          step,
          stepsPerEpoch,
          globalStep,
          totalSteps,
          loss,
          gradientNorm,
          learningRate,
          learningRates: Object.fromEntries(this.optimizer.groups.map((group, index) => [group.name, rates[index]!])),
          imagesPerSecond: elapsedSeconds > 0 ? sessionImages / elapsedSeconds : 0,
          etaSeconds: ((totalSteps - this.stepsDone) * elapsedSeconds) / sessionSteps,
        });
        step += 1;
        if (stopRequested()) return stop({ step, lossSum, learningRate });
      }
      if (step !== stepsPerEpoch) {
        throw new ConfigError('stepsPerEpoch', stepsPerEpoch, `must equal the number of batches the train source yields (epoch ${epoch} yielded ${step})`);
      }
      this.epochsDone = epoch + 1;
      const last = this.epochsDone === epochs;
      const evaluation = validation !== undefined && (this.epochsDone % evaluateEvery === 0 || last) ? await this.evaluate(validation) : null;
      const improved = evaluation !== null && this.improves(evaluation);
      if (improved) {
        const metric = this.config.bestMetric;
        this.best = { epoch, metric, value: evaluation[metric], evaluation };
        if (store !== null) {
          const { bytes, manifest } = await this.withEvaluatedWeights(async () => encodeTunedWeightsWithManifest(this.model, this.methods));
          await store.writeBestWeights(bytes, manifest);
        }
      }
      const diagnostics = this.diagnostics === null ? {} : { diagnostics: await this.collectDiagnostics(this.diagnostics, epoch) };
      const summary: EpochSummary = { epoch, trainLoss: lossSum / step, learningRate, evaluation, ...diagnostics };
      // `channels` records hold every channel's score of every block (ViT-B: 9,216 numbers each):
      // only the latest epoch keeps them, so checkpoints do not grow with the run.
      this.history = [...this.history.map(withoutChannels), summary];
      const checkpoint = store !== null && (this.epochsDone % checkpointEvery === 0 || last) ? await this.writeCheckpoint(store, null) : null;
      if (checkpoint !== null) checkpointedStep = this.stepsDone;
      await onProgress?.({ type: 'epoch', ...summary, epochs, best: this.best, improved, checkpoint });
    }
    return result('completed');
  }

  /**
   * Metrics on a source with the current weights, or their average when `config.ema.evaluate`.
   * The forward pass runs in evaluation mode (no dropout, no drop path).
   */
  async evaluate(source: BatchSource): Promise<EvaluationResult> {
    return this.withEvaluatedWeights(() =>
      evaluate(this.model, source, { forward: this.forward, epoch: this.epochsDone, globalStep: this.stepsDone }),
    );
  }

  /** Every attached method's diagnostics after `epoch` (or before the first, -1), with the weights evaluation uses. */
  private collectDiagnostics(options: DiagnosticsOptions, epoch: number): Promise<MethodDiagnostics> {
    return this.withEvaluatedWeights(() => collectDiagnostics(this.model, this.methods, options, epoch));
  }

  /** Runs `fn` with the averaged weights in place (then restores the trained ones); needs `config.ema`. */
  async withEmaWeights<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.ema === null) throw new ConfigError('ema', null, 'must be set to use the averaged weights');
    return this.ema.withAverage(fn);
  }

  /** Frees the optimiser's state and the weight average (not the model or the methods). */
  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }

  private withEvaluatedWeights<T>(fn: () => Promise<T>): Promise<T> {
    return this.ema !== null && this.config.ema?.evaluate === true ? this.ema.withAverage(fn) : fn();
  }

  private improves(evaluation: EvaluationResult): boolean {
    if (this.best === null) return true;
    const value = evaluation[this.config.bestMetric];
    return this.config.bestMetric === 'loss' ? value < this.best.value : value > this.best.value;
  }

  /**
   * A batch's loss and gradients exactly as a training step computes them, without changing any
   * weight or state: ceil(B / microBatch) forward and backward passes of at most `microBatch`
   * images (the whole batch by default), each one's loss weighted by its share of the batch's
   * images, so that the sum is the batch's mean loss (label smoothing included) and the summed
   * gradients are the batch's. `prepare` runs per pass, the penalty is added once (in the first
   * pass); each pass is told its first image's place in the batch (`imageOffset`), so that
   * per-image random draws match the whole batch's. The caller disposes what is returned.
   */
  gradients(batch: ImageBatch, pass: StepPass): BatchGradients {
    checkBatch(batch);
    const size = batch.shape[0];
    const step = Math.min(this.microBatch ?? size, size);
    let loss: tf.Scalar | null = null;
    const gradients = new Map<string, tf.Tensor>();
    try {
      for (let start = 0; start < size; start += step) {
        const count = Math.min(step, size - start);
        const context: ForwardPassContext = { training: true, ...pass, imageOffset: start, recompute: this.recompute };
        const part = this.passGradients(sliceBatch(batch, start, count), context, count / size, start === 0);
        loss = loss === null ? part.loss : addInto(loss, part.loss);
        for (const [key, gradient] of part.gradients) {
          const sum = gradients.get(key);
          // Each pass's gradients are freed as soon as they are added: one sum per parameter is held.
          gradients.set(key, sum === undefined ? gradient : addInto(sum, gradient));
        }
      }
    } catch (error) {
      tf.dispose([...(loss === null ? [] : [loss]), ...gradients.values()]);
      throw asMissingGradient(error);
    }
    return { loss: loss!, gradients };
  }

  /** One forward and backward pass over (part of) a batch, its loss scaled by `weight`. */
  private passGradients(batch: ImageBatch, context: ForwardPassContext, weight: number, withPenalty: boolean): BatchGradients {
    const tensors = batchTensors(batch);
    const forward = this.forward;
    let prepared: tf.TensorContainer | undefined;
    try {
      if (forward.prepare !== undefined) prepared = tf.tidy(() => forward.prepare!(tensors.images, context));
      let logitsShape: readonly number[] = [];
      const { value, grads } = leanVariableGrads(() => {
        const logits = forward.logits(tensors.images, context, prepared);
        logitsShape = logits.shape;
        const loss = tf.mul(softmaxCrossEntropy(logits, tensors.labels, this.config.labelSmoothing), weight) as tf.Scalar;
        return !withPenalty || forward.penalty === undefined ? loss : (tf.add(loss, forward.penalty(context)) as tf.Scalar);
      }, this.parameters.map((parameter) => parameter.variable));
      const gradients = new Map<string, tf.Tensor>();
      for (const parameter of this.parameters) {
        const gradient = grads[parameter.variable.name];
        if (gradient !== undefined && gradient !== null) gradients.set(parameter.key, gradient);
      }
      try {
        checkLogits(logitsShape, tensors);
      } catch (error) {
        tf.dispose([value, ...gradients.values()]);
        throw error;
      }
      return { loss: value, gradients };
    } finally {
      tf.dispose([tensors.images, tensors.labels]);
      if (prepared !== undefined) tf.dispose(prepared);
    }
  }

  /** One optimiser step on a batch. Throws `DivergenceError` before updating anything when the loss or gradients are not finite. */
  private async trainStep(batch: ImageBatch, epoch: number, step: number, rates: readonly number[]): Promise<{ loss: number; gradientNorm: number }> {
    const { loss, gradients } = this.gradients(batch, { seed: this.random.nextSeed(), epoch, globalStep: this.stepsDone });
    const owned: tf.Tensor[] = [loss, ...gradients.values()];
    try {
      const norm = globalNorm(gradients.values());
      owned.push(norm);
      const [lossValue, normValue] = (await Promise.all([loss.data(), norm.data()])).map((data) => data[0]!) as [number, number];
      if (!Number.isFinite(lossValue)) throw new DivergenceError('loss', lossValue, epoch, step, this.stepsDone);
      if (!Number.isFinite(normValue)) throw new DivergenceError('gradient norm', normValue, epoch, step, this.stepsDone);
      const clipped = this.config.clipGradNorm === null ? gradients : clipGradNorm(gradients, this.config.clipGradNorm, norm);
      if (clipped !== gradients) owned.push(...clipped.values());
      this.optimizer.step(clipped, rates);
      this.ema?.update();
      return { loss: lossValue, gradientNorm: normValue };
    } finally {
      tf.dispose(owned);
    }
  }

  /** What identifies a run: a checkpoint only resumes a run whose fingerprint is equal. */
  private fingerprint(): unknown {
    return JSON.parse(
      JSON.stringify({
        config: this.config,
        backbone: this.model.config,
        methods: this.methods.map((method) => ({ name: method.name, config: method.config })),
        parameters: this.parameters.map((parameter) => ({ key: parameter.key, shape: parameter.variable.shape })),
        // Only when given, so that runs without inputs keep the fingerprint they always had.
        ...(this.inputs === null ? {} : { inputs: this.inputs }),
      }),
    );
  }

  /** `partial`: written within an epoch (a stop), the steps of that epoch done; null at an epoch's end. */
  private async writeCheckpoint(store: TrainerStore, partial: PartialEpoch | null): Promise<string> {
    const tensors = new Map<string, HostTensor>();
    const add = (prefix: string, entries: Iterable<[string, HostTensor]>) => {
      for (const [key, host] of entries) tensors.set(`${prefix}/${key}`, host);
    };
    add('model', tunedTensors(this.model, this.methods));
    const optimizerState = this.optimizer.state();
    add('optimizer', optimizerState.tensors);
    if (this.ema !== null) add('ema', this.ema.state());
    const record = {
      epoch: this.epochsDone,
      step: this.stepsDone,
      random: this.random.state,
      optimizer: { kind: optimizerState.kind, steps: optimizerState.steps },
      fingerprint: this.fingerprint(),
      history: this.history,
      best: this.best,
      initialDiagnostics: this.initialDiagnostics,
      ...(partial === null ? {} : { partialEpoch: partial }),
    };
    return store.writeCheckpoint(String(this.stepsDone).padStart(9, '0'), { record, tensors });
  }

  /** `field` is what the user gave (outputDir or store), for messages. */
  private restore(checkpoint: TrainingCheckpoint, store: TrainerStore, field: 'outputDir' | 'store'): void {
    const source = store.checkpointSource ?? store.location;
    const record = checkpoint.record;
    const difference = firstDifference(record.fingerprint, this.fingerprint());
    if (difference !== null) {
      throw new ConfigError(field, store.location, `holds a checkpoint of another run (${difference}); give a new ${field} to start afresh`);
    }
    const { epochs, stepsPerEpoch } = this.config;
    const epoch = record.epoch;
    const partial = (record.partialEpoch ?? null) as PartialEpoch | null;
    const within = partial === null ? 0 : partial.step;
    if (partial !== null && (!Number.isInteger(within) || within < 1 || within > stepsPerEpoch || !Number.isFinite(partial.lossSum) || !Number.isFinite(partial.learningRate))) {
      throw new FormatError(source, `partialEpoch must hold step (1 to ${stepsPerEpoch}), lossSum and learningRate (finite numbers)`);
    }
    if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0 || epoch + (partial === null ? 0 : 1) > epochs || record.step !== epoch * stepsPerEpoch + within) {
      throw new FormatError(source, `epoch ${String(epoch)} and step ${String(record.step)} do not fit a run of ${epochs} epochs of ${stepsPerEpoch} steps`);
    }
    const random = record.random as RandomState | undefined;
    const optimizer = record.optimizer as { kind: string; steps: Record<string, number> } | undefined;
    if (random?.seed !== this.config.seed || !Array.isArray(record.history) || record.history.length !== epoch || typeof optimizer?.steps !== 'object') {
      throw new FormatError(source, 'must hold random (seed, counter), optimizer (kind, steps) and one history entry per epoch');
    }
    const part = (prefix: string) =>
      new Map([...checkpoint.tensors].filter(([key]) => key.startsWith(`${prefix}/`)).map(([key, host]) => [key.slice(prefix.length + 1), host]));
    restoreTunedTensors(this.model, this.methods, part('model'), source);
    this.optimizer.loadState({ kind: optimizer.kind, steps: optimizer.steps, tensors: part('optimizer') }, source);
    this.ema?.loadState(part('ema'), source);
    this.random = SeededRandom.fromState(random);
    this.epochsDone = epoch;
    this.stepsDone = epoch * stepsPerEpoch + within;
    this.partialEpoch = partial === null ? null : { step: within, lossSum: partial.lossSum, learningRate: partial.learningRate };
    this.history = record.history as EpochSummary[];
    this.best = (record.best ?? null) as BestEpoch | null;
    this.initialDiagnostics = (record.initialDiagnostics ?? null) as MethodDiagnostics | null;
  }
}

/** Where a run stopped within an epoch: the steps done, their loss sum and the last learning rate (for the epoch's summary). */
interface PartialEpoch {
  readonly step: number;
  readonly lossSum: number;
  readonly learningRate: number;
}

/** An epoch's summary without its `channels` diagnostics (the records of other kinds stay). */
function withoutChannels(summary: EpochSummary): EpochSummary {
  if (summary.diagnostics === undefined) return summary;
  const diagnostics = Object.fromEntries(Object.entries(summary.diagnostics).map(([method, records]) => [method, records.filter((record) => record.kind !== 'channels')]));
  return { ...summary, diagnostics };
}

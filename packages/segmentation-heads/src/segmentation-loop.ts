import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig, OptimizerConfigInput, Optimizer, TrainableParameter, TrainingCheckpoint } from '@visual-peft/training';
import {
  CHECKPOINT_FILE,
  DivergenceError,
  LearningRateSchedule,
  collectTrainableParameters,
  createOptimizer,
  firstDifference,
  readTrainingCheckpoint,
  resolveOptimizerConfig,
  resolveScheduleConfig,
  restoreTunedTensors,
  tunedTensors,
  writeTrainingCheckpoint,
} from '@visual-peft/training';
import type { HostTensor, TuningMethod } from '@visual-peft/vit-core';
import { ConfigError, FormatError, deriveSeed, fromHostTensor, integer, knownOptions, leanVariableGrads, numberInRange, positiveNumber, toHostTensor } from '@visual-peft/vit-core';
import type { SegmentationBatchLike } from './segmentation-batch';
import { batchTensors } from './segmentation-batch';
import type { SetrPup } from './setr-pup';

export interface SegmentationLoopConfig {
  /** Length of the run; the poly schedule reaches its floor at the end. Required; ADE20K: 160,000. */
  readonly maxIterations: number;
  /** Peak learning rate of the backbone group. Default 1e-3 (mmseg's SETR on ADE20K). */
  readonly learningRate: number;
  /** The heads' peak rate over the backbone group's. Default 10 (mmseg's `lr_mult=10` on every key containing 'head'). */
  readonly headLearningRateMultiplier: number;
  /** Exponent of the poly schedule. Default 0.9. */
  readonly power: number;
  /**
   * Floor of both groups' rates. Default 1e-4, mmseg's schedule_160k (`min_lr`/`eta_min`): the heads
   * then decay to the same floor, so their rate is exactly 10x the backbone's only with 0.
   */
  readonly minLearningRate: number;
  /** Step i's random ops (drop path, prompt dropout, head dropout) draw from `deriveSeed(seed, i)`. Default 0. */
  readonly seed: number;
  /**
   * `@visual-peft/training`'s optimiser over both groups, its rate being `learningRate`. Default SGD
   * with momentum 0.9 and no weight decay (mmseg's SETR); the weight decay applies to both groups.
   */
  readonly optimizer: OptimizerConfig;
  /** Iterations between checkpoints in `fit`; one is also written at the end and when stopped. Default 1000. */
  readonly checkpointEvery: number;
}

export type SegmentationLoopConfigInput = Partial<Omit<SegmentationLoopConfig, 'optimizer'>> &
  Pick<SegmentationLoopConfig, 'maxIterations'> & {
    /** The optimiser's kind and settings; its rate is `learningRate`. Default `{ kind: 'sgd' }`. */
    readonly optimizer?: Partial<Omit<OptimizerConfigInput, 'learningRate'>>;
  };

const LOOP_FIELDS = ['maxIterations', 'learningRate', 'headLearningRateMultiplier', 'power', 'minLearningRate', 'seed', 'optimizer', 'checkpointEvery'];

export function resolveSegmentationLoopConfig(input: SegmentationLoopConfigInput): SegmentationLoopConfig {
  const fields = knownOptions('config', input, LOOP_FIELDS);
  const maxIterations = integer('maxIterations', fields.maxIterations, 1);
  const learningRate = positiveNumber('learningRate', fields.learningRate ?? 1e-3);
  const headLearningRateMultiplier = positiveNumber('headLearningRateMultiplier', fields.headLearningRateMultiplier ?? 10);
  const optimizer = knownOptions('optimizer', fields.optimizer, ['kind', 'weightDecay', 'momentum', 'dampening', 'nesterov', 'betas', 'eps']);
  return {
    maxIterations,
    learningRate,
    headLearningRateMultiplier,
    power: positiveNumber('power', fields.power ?? 0.9),
    minLearningRate: numberInRange('minLearningRate', fields.minLearningRate ?? 1e-4, { min: 0, max: Math.min(learningRate, learningRate * headLearningRateMultiplier) }),
    seed: integer('seed', fields.seed ?? 0, 0),
    optimizer: resolveOptimizerConfig({ kind: 'sgd', ...optimizer, learningRate } as OptimizerConfigInput),
    checkpointEvery: integer('checkpointEvery', fields.checkpointEvery ?? 1000, 1),
  };
}

/**
 * mmseg's poly schedule (mmcv PolyLrUpdaterHook / mmengine PolyLR) as training's
 * `LearningRateSchedule`: the run is one epoch of `maxIterations` steps, and at 0-based iteration i
 * a group whose peak is `base` trains at (base - min) * (1 - i / maxIterations)^power + min.
 */
export function polySchedule(maxIterations: number, power: number, minLearningRate: number): LearningRateSchedule {
  return new LearningRateSchedule(resolveScheduleConfig({ kind: 'poly', unit: 'step', power, minLr: minLearningRate }, 1), 1, maxIterations);
}

export interface GroupLearningRates {
  readonly backbone: number;
  readonly head: number;
}

/** The losses of a step, read back to the host. */
export interface SegmentationLossValues {
  /** decode + auxiliaryWeight * sum(auxiliary). */
  readonly loss: number;
  readonly decodeLoss: number;
  readonly auxiliaryLosses: readonly number[];
}

export interface SegmentationStepResult extends SegmentationLossValues {
  /** The iteration this step ran (0-based). */
  readonly iteration: number;
  readonly learningRates: GroupLearningRates;
}

/**
 * One forward and backward pass of SETR's objective over `variables`: `apply` gets the gradients
 * of the variables the loss reaches, by variable name (a variable it does not reach has none and
 * keeps its value, as in PyTorch), and the losses; every tensor is freed afterwards.
 */
export function segmentationPass(
  model: SetrPup,
  variables: readonly tf.Variable[],
  batch: SegmentationBatchLike,
  seed: number,
  apply: (gradients: tf.NamedTensorMap, losses: SegmentationLossValues) => void,
): SegmentationLossValues {
  const { images, labels } = batchTensors(batch);
  const kept: tf.Tensor[] = [images, labels];
  try {
    const parts: { decode?: tf.Scalar; auxiliary?: tf.Scalar[] } = {};
    const { value, grads } = leanVariableGrads(() => {
      const losses = model.losses(images, labels, { training: true, seed });
      parts.decode = tf.keep(losses.decode);
      parts.auxiliary = losses.auxiliary.map((loss) => tf.keep(loss));
      kept.push(parts.decode, ...parts.auxiliary);
      return losses.total;
    }, [...variables]);
    kept.push(value, ...Object.values(grads));
    const gradients: tf.NamedTensorMap = {};
    for (const [name, gradient] of Object.entries(grads)) {
      if (gradient !== undefined && gradient !== null) gradients[name] = gradient;
    }
    const losses = {
      loss: value.dataSync()[0]!,
      decodeLoss: parts.decode!.dataSync()[0]!,
      auxiliaryLosses: parts.auxiliary!.map((loss) => loss.dataSync()[0]!),
    };
    apply(gradients, losses);
    return losses;
  } finally {
    tf.dispose(kept);
  }
}

/** Training batches as `@visual-peft/datasets`' `createSegmentationSource` yields them: an epoch's, from a batch on. */
export type SegmentationTrainSource = ((epoch: number, startBatch?: number) => AsyncIterable<SegmentationBatchLike>) & {
  readonly batchesPerEpoch: number;
};

export interface SegmentationFitOptions {
  /** The training batches; iteration i takes batch i % batchesPerEpoch of epoch floor(i / batchesPerEpoch). */
  readonly train: SegmentationTrainSource;
  /**
   * Where the checkpoint (`checkpoint.json` and its tensor file) goes; a checkpoint already there
   * is resumed. Default: none (nothing is written or resumed).
   */
  readonly outputDir?: string;
  /**
   * What identifies the run, as JSON: a checkpoint with another fingerprint is refused. Default:
   * the loop's config, the heads' and the backbone's configs, and the methods' names and configs.
   */
  readonly fingerprint?: unknown;
  /** Runs after any resume, before the first step, with the iteration resumed from (null: a fresh run), e.g. a data-dependent initialisation a resumed run must not repeat. */
  readonly onStart?: (resumedFrom: number | null) => unknown;
  /** Runs each step (default: calls it), so a caller can measure one (its time, `tf.profile`'s peak). */
  readonly runStep?: (step: () => SegmentationStepResult) => Promise<SegmentationStepResult>;
  /** After every step; when it returns a promise, training waits for it. */
  readonly onStep?: (result: SegmentationStepResult) => unknown;
  /** After every checkpoint written, with its path. */
  readonly onCheckpoint?: (path: string, iteration: number) => unknown;
  /** Stops the run before the next step, after writing a checkpoint. */
  readonly signal?: AbortSignal;
}

export interface SegmentationFitResult {
  /** 'stopped' when the signal aborted the run. */
  readonly status: 'completed' | 'stopped';
  /** Iterations done, resumed ones included. */
  readonly iterations: number;
  /** The iteration a resumed run picked up at, or null. */
  readonly resumedFrom: number | null;
}

const GROUPS = ['backbone', 'head'] as const;
type GroupName = (typeof GROUPS)[number];

/**
 * The training of SETR-PUP on a tuned ViT (GatedPT, ICML 2023; mmseg's SETR): one backbone pass
 * feeds the decode and auxiliary heads, loss = decode + 0.4 * each auxiliary, and one
 * `@visual-peft/training` optimiser updates two parameter groups, 'backbone' (each method's
 * `trainableVariables()` and every backbone weight whose `trainable` flag is set) and 'head'
 * (the heads' weights, at `headLearningRateMultiplier` times the rate), both on the poly schedule.
 * `fit` runs the iterations over a batch source with training's atomic checkpoints (tuned weights,
 * heads with their running statistics, the optimiser's slots) and resumes from them bit for bit.
 * The loop owns its optimiser: `dispose()` frees it (not the model, heads or methods).
 */
export class SegmentationLoop {
  readonly config: SegmentationLoopConfig;
  readonly optimizer: Optimizer;
  readonly schedule: LearningRateSchedule;
  private readonly variables: tf.Variable[];
  private readonly keyOf: ReadonlyMap<string, string>;
  private current = 0;

  constructor(
    readonly model: SetrPup,
    readonly methods: readonly TuningMethod[],
    config: SegmentationLoopConfigInput,
  ) {
    this.config = resolveSegmentationLoopConfig(config);
    for (const method of methods) {
      if (!model.backbone.extensions.includes(method)) throw new ConfigError('methods', method.name, 'must be attached to the backbone before training (backbone.attach(method))');
    }
    const parameters: Record<GroupName, TrainableParameter[]> = {
      backbone: collectTrainableParameters(model.backbone, methods).map(({ key, variable }) => ({ key, variable })),
      head: model.parameters.filter((parameter) => !parameter.buffer).map(({ key, variable }) => ({ key, variable })),
    };
    const { learningRate, headLearningRateMultiplier, optimizer, maxIterations, power, minLearningRate } = this.config;
    const peaks: Record<GroupName, number> = { backbone: learningRate, head: learningRate * headLearningRateMultiplier };
    this.optimizer = createOptimizer(
      optimizer,
      GROUPS.map((name) => ({ name, learningRate: peaks[name], weightDecay: optimizer.weightDecay, parameters: parameters[name] })),
    );
    this.schedule = polySchedule(maxIterations, power, minLearningRate);
    const all = GROUPS.flatMap((name) => parameters[name]);
    this.variables = all.map((parameter) => parameter.variable);
    this.keyOf = new Map(all.map((parameter) => [parameter.variable.name, parameter.key]));
  }

  /** The next iteration to run (0-based). */
  get iteration(): number {
    return this.current;
  }

  /** Both groups' rates at an iteration (default: the next one). */
  learningRates(iteration = this.current): GroupLearningRates {
    const [backbone, head] = this.optimizer.groups.map((group) => this.schedule.at(group.learningRate, iteration)) as [number, number];
    return { backbone, head };
  }

  /**
   * One update on a batch of images and labels (`@visual-peft/datasets`' `SegmentationBatch` fits).
   * A loss that is not finite throws `DivergenceError` (the run counted as one epoch of
   * `maxIterations` steps) before the optimiser updates anything; BatchNorm's running statistics
   * took the batch in the forward pass already, as in PyTorch.
   */
  step(batch: SegmentationBatchLike): SegmentationStepResult {
    const iteration = this.current;
    const { maxIterations, seed } = this.config;
    if (iteration >= maxIterations) throw new ConfigError('iteration', iteration, `must be below maxIterations (${maxIterations}): the run is complete`);
    const learningRates = this.learningRates(iteration);
    const losses = segmentationPass(this.model, this.variables, batch, deriveSeed(seed, iteration), (gradients, { loss }) => {
      if (!Number.isFinite(loss)) throw new DivergenceError('loss', loss, 0, iteration, iteration);
      const byKey = new Map(Object.entries(gradients).map(([name, gradient]) => [this.keyOf.get(name)!, gradient]));
      this.optimizer.step(byKey, [learningRates.backbone, learningRates.head]);
    });
    this.current = iteration + 1;
    return { iteration, ...losses, learningRates };
  }

  /** Trains to `maxIterations` (or the signal), resuming from `outputDir`'s checkpoint when there is one. */
  async fit(options: SegmentationFitOptions): Promise<SegmentationFitResult> {
    const { train, outputDir, signal, onStep, onCheckpoint } = options;
    const perEpoch = integer('train.batchesPerEpoch', train.batchesPerEpoch, 1);
    const fingerprint = JSON.parse(JSON.stringify(options.fingerprint ?? this.fingerprint())) as unknown;
    const runStep = options.runStep ?? ((step) => Promise.resolve(step()));
    // A function, not a field read: TypeScript would narrow `aborted` to false after the first check.
    const stopRequested = () => signal?.aborted === true;
    let resumedFrom: number | null = null;
    if (outputDir !== undefined) {
      await mkdir(outputDir, { recursive: true });
      const checkpoint = await readTrainingCheckpoint(outputDir);
      if (checkpoint !== null) resumedFrom = this.restore(checkpoint, outputDir, fingerprint);
    }
    await options.onStart?.(resumedFrom);
    const save = async () => {
      if (outputDir === undefined) return;
      const path = await this.writeCheckpoint(outputDir, fingerprint);
      await onCheckpoint?.(path, this.current);
    };
    const { maxIterations, checkpointEvery } = this.config;
    while (this.current < maxIterations) {
      const start = this.current;
      for await (const batch of train(Math.floor(start / perEpoch), start % perEpoch)) {
        if (stopRequested()) {
          await save();
          return { status: 'stopped', iterations: this.current, resumedFrom };
        }
        // Not inside `onStep?.(...)`: an optional call skips its arguments when there is no callback.
        const result = await runStep(() => this.step(batch));
        await onStep?.(result);
        if (this.current % checkpointEvery === 0 || this.current === maxIterations) await save();
        if (this.current === maxIterations) break;
      }
      if (this.current === start) throw new ConfigError('train', `epoch ${Math.floor(start / perEpoch)} from batch ${start % perEpoch}`, 'yielded no batch');
    }
    return { status: 'completed', iterations: this.current, resumedFrom };
  }

  /** Frees the optimiser's slots. */
  dispose(): void {
    this.optimizer.dispose();
  }

  /** What identifies a run by default. */
  private fingerprint(): unknown {
    return {
      config: this.config,
      heads: this.model.config,
      backbone: this.model.backbone.config,
      methods: this.methods.map((method) => ({ name: method.name, config: method.config })),
    };
  }

  /**
   * Tuned weights under `model/`, the heads (running statistics included) under `heads/`, each
   * group's optimiser slots under `optimizer.<group>/` with its step counts in the record.
   */
  private async writeCheckpoint(directory: string, fingerprint: unknown): Promise<string> {
    const tensors = new Map<string, HostTensor>();
    for (const [key, host] of tunedTensors(this.model.backbone, this.methods)) tensors.set(`model/${key}`, host);
    const headWeights = this.model.weights();
    try {
      for (const [key, tensor] of headWeights) tensors.set(`heads/${key}`, toHostTensor(tensor));
    } finally {
      tf.dispose([...headWeights.values()]);
    }
    const state = this.optimizer.state();
    const steps: Record<string, Record<string, number>> = {};
    for (const group of this.optimizer.groups) {
      const keys = new Set(group.parameters.map((parameter) => parameter.key));
      steps[group.name] = Object.fromEntries(Object.entries(state.steps).filter(([key]) => keys.has(key)));
      for (const [name, host] of state.tensors) {
        if (keys.has(name.slice(name.indexOf('/') + 1))) tensors.set(`optimizer.${group.name}/${name}`, host);
      }
    }
    const record = { iteration: this.current, fingerprint, steps };
    return writeTrainingCheckpoint(directory, String(this.current).padStart(9, '0'), { record, tensors });
  }

  /** Puts a saved run back (weights, heads, optimiser) after checking it is this run's; returns its iteration. */
  private restore(checkpoint: TrainingCheckpoint, directory: string, fingerprint: unknown): number {
    const source = join(directory, CHECKPOINT_FILE);
    const { iteration, steps } = checkpoint.record as { iteration?: unknown; steps?: Record<string, Record<string, number>> };
    const difference = firstDifference(checkpoint.record.fingerprint, fingerprint);
    if (difference !== null) throw new ConfigError('outputDir', directory, `holds a checkpoint of another run (${difference}); remove it or give a new outputDir to start afresh`);
    const { maxIterations } = this.config;
    if (typeof iteration !== 'number' || !Number.isInteger(iteration) || iteration < 0 || iteration > maxIterations || typeof steps !== 'object' || steps === null) {
      throw new FormatError(source, `must hold an iteration in [0, ${maxIterations}] and the optimiser's step counts per group`);
    }
    const part = (prefix: string) => new Map([...checkpoint.tensors].filter(([key]) => key.startsWith(`${prefix}/`)).map(([key, host]) => [key.slice(prefix.length + 1), host]));
    restoreTunedTensors(this.model.backbone, this.methods, part('model'), source);
    const headTensors = new Map([...part('heads')].map(([key, host]) => [key, fromHostTensor(host)]));
    try {
      this.model.loadWeights(headTensors);
    } finally {
      tf.dispose([...headTensors.values()]);
    }
    const groups = this.optimizer.groups.map((group) => group.name);
    this.optimizer.loadState(
      {
        kind: this.optimizer.kind,
        steps: Object.assign({}, ...groups.map((group) => steps[group] ?? {})) as Record<string, number>,
        tensors: new Map(groups.flatMap((group) => [...part(`optimizer.${group}`)])),
      },
      source,
    );
    this.current = iteration;
    return iteration;
  }
}

import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, deriveSeed, integer, knownOptions } from '@visual-peft/vit-core';
import { polyLearningRate } from './poly-learning-rate';
import type { SegmentationBatchLike } from './segmentation-batch';
import type { GroupLearningRates, SegmentationLoopConfig, SegmentationStepResult } from './segmentation-loop';
import { resolveSegmentationLoopConfig, segmentationPass } from './segmentation-loop';
import type { SetrPup } from './setr-pup';

/**
 * Applies one parameter group's gradients (keyed by tfjs variable name) at this step's learning rate.
 * @deprecated `SegmentationLoop` drives `@visual-peft/training`'s optimisers itself; this type goes in the next release.
 */
export type GradientUpdate = (gradients: tf.NamedTensorMap, learningRate: number) => void;

/**
 * A tfjs optimiser whose rate can be set each step (`tf.train.sgd`, `tf.train.momentum`) or a `GradientUpdate`.
 * @deprecated See `GradientUpdate`.
 */
export type GroupOptimizer = tf.Optimizer | GradientUpdate;

/** @deprecated See `GradientUpdate`. */
export interface SegmentationOptimizers {
  /** The backbone group: the tuning method's variables and any trainable backbone weight. */
  readonly backbone: GroupOptimizer;
  /** The heads' group, at `headLearningRateMultiplier` times the backbone group's rate. */
  readonly head: GroupOptimizer;
}

/** @deprecated `SegmentationLoop`'s config (`SegmentationLoopConfig`) replaces it; this type goes in the next release. */
export type SegmentationTrainerConfig = Omit<SegmentationLoopConfig, 'optimizer' | 'checkpointEvery'> & {
  /** Iteration to start from, for a resumed run. Default 0. */
  readonly startIteration: number;
};

/** @deprecated See `SegmentationTrainerConfig`. */
export type SegmentationTrainerConfigInput = Partial<SegmentationTrainerConfig> & Pick<SegmentationTrainerConfig, 'maxIterations'>;

const TRAINER_FIELDS = ['maxIterations', 'learningRate', 'headLearningRateMultiplier', 'power', 'minLearningRate', 'seed', 'startIteration'];

/** @deprecated `resolveSegmentationLoopConfig` replaces it; this function goes in the next release. */
export function resolveSegmentationTrainerConfig(input: SegmentationTrainerConfigInput): SegmentationTrainerConfig {
  const { startIteration: start, ...fields } = knownOptions('config', input, TRAINER_FIELDS) as SegmentationTrainerConfigInput;
  const { maxIterations, learningRate, headLearningRateMultiplier, power, minLearningRate, seed } = resolveSegmentationLoopConfig(fields);
  const startIteration = integer('startIteration', start ?? 0, 0);
  if (startIteration >= maxIterations) throw new ConfigError('startIteration', startIteration, `must be below maxIterations (${maxIterations})`);
  return { maxIterations, learningRate, headLearningRateMultiplier, power, minLearningRate, seed, startIteration };
}

type GroupName = keyof SegmentationOptimizers;

/**
 * `SegmentationLoop`'s step (the same pass, schedule and seeds) with the caller's optimisers, one per
 * group: tfjs optimisers or `GradientUpdate` functions, which this class never creates or disposes.
 * @deprecated Use `SegmentationLoop`, which trains on `@visual-peft/training`'s optimisers and
 * checkpoints its runs; this class goes in the next release.
 */
export class SegmentationTrainer {
  readonly config: SegmentationTrainerConfig;
  private readonly groups: ReadonlyMap<GroupName, readonly tf.Variable[]>;
  private readonly updates: ReadonlyMap<GroupName, GradientUpdate>;
  private current: number;

  constructor(
    readonly model: SetrPup,
    backboneVariables: readonly tf.Variable[],
    optimizers: SegmentationOptimizers,
    config: SegmentationTrainerConfigInput,
  ) {
    this.config = resolveSegmentationTrainerConfig(config);
    const headVariables = model.trainableVariables();
    const heads = new Set(headVariables);
    backboneVariables.forEach((variable, index) => {
      if (!variable.trainable) throw new ConfigError(`backboneVariables[${index}]`, variable.name, 'must be trainable');
      if (heads.has(variable)) throw new ConfigError(`backboneVariables[${index}]`, variable.name, 'must not be a head variable (the heads form their own group)');
    });
    this.groups = new Map<GroupName, readonly tf.Variable[]>([
      ['backbone', [...backboneVariables]],
      ['head', headVariables],
    ]);
    this.updates = new Map<GroupName, GradientUpdate>([
      ['backbone', gradientUpdate('optimizers.backbone', optimizers.backbone)],
      ['head', gradientUpdate('optimizers.head', optimizers.head)],
    ]);
    this.current = this.config.startIteration;
  }

  /** The next iteration to run (0-based). */
  get iteration(): number {
    return this.current;
  }

  /** Both groups' rates at an iteration (default: the next one). */
  learningRates(iteration = this.current): GroupLearningRates {
    const { learningRate, headLearningRateMultiplier, maxIterations, power, minLearningRate } = this.config;
    return {
      backbone: polyLearningRate(learningRate, iteration, maxIterations, power, minLearningRate),
      head: polyLearningRate(learningRate * headLearningRateMultiplier, iteration, maxIterations, power, minLearningRate),
    };
  }

  /** One update on a batch of images and labels (`@visual-peft/datasets`' `SegmentationBatch` fits). */
  step(batch: SegmentationBatchLike): SegmentationStepResult {
    const iteration = this.current;
    if (iteration >= this.config.maxIterations) {
      throw new ConfigError('iteration', iteration, `must be below maxIterations (${this.config.maxIterations}): the run is complete`);
    }
    const learningRates = this.learningRates(iteration);
    const losses = segmentationPass(this.model, [...this.groups.values()].flat(), batch, deriveSeed(this.config.seed, iteration), (gradients) => {
      for (const [group, groupVariables] of this.groups) {
        const own = Object.fromEntries(groupVariables.filter((variable) => variable.name in gradients).map((variable) => [variable.name, gradients[variable.name]!]));
        if (Object.keys(own).length > 0) this.updates.get(group)!(own, learningRates[group]);
      }
    });
    this.current = iteration + 1;
    return { iteration, ...losses, learningRates };
  }
}

/** A tfjs optimiser becomes a `GradientUpdate` that sets its rate first; one that cannot is refused. */
function gradientUpdate(field: string, optimizer: GroupOptimizer): GradientUpdate {
  if (typeof optimizer === 'function') return optimizer;
  const settable = optimizer as tf.Optimizer & { setLearningRate?: (learningRate: number) => void };
  if (typeof settable.setLearningRate !== 'function') {
    throw new ConfigError(
      field,
      optimizer?.getClassName?.() ?? optimizer,
      'must be a tfjs optimizer whose rate can be set (tf.train.sgd, tf.train.momentum) or a function (gradients, learningRate) => void',
    );
  }
  return (gradients, learningRate) => {
    settable.setLearningRate!(learningRate);
    settable.applyGradients(gradients);
  };
}

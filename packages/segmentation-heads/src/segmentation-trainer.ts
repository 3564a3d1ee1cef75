import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, integer, knownOptions, leanVariableGrads, numberInRange, positiveNumber } from '@visual-peft/vit-core';
import { polyLearningRate } from './poly-learning-rate';
import type { SegmentationBatchLike } from './segmentation-batch';
import { batchTensors } from './segmentation-batch';
import type { SetrPup } from './setr-pup';

/**
 * Applies one parameter group's gradients (keyed by tfjs variable name) at this step's learning
 * rate. Any optimiser plugs in through this: `@visual-peft/training`'s SGD or AdamW by mapping the
 * names to its parameter keys and calling its step with the rate.
 */
export type GradientUpdate = (gradients: tf.NamedTensorMap, learningRate: number) => void;

/** A tfjs optimiser whose rate can be set each step (`tf.train.sgd`, `tf.train.momentum`) or a `GradientUpdate`. */
export type GroupOptimizer = tf.Optimizer | GradientUpdate;

export interface SegmentationOptimizers {
  /** The backbone group: the tuning method's variables and any trainable backbone weight. */
  readonly backbone: GroupOptimizer;
  /** The heads' group, at `headLearningRateMultiplier` times the backbone group's rate. */
  readonly head: GroupOptimizer;
}

export interface SegmentationTrainerConfig {
  /** Length of the run; the poly schedule reaches its floor at the end. Required; ADE20K: 160,000. */
  readonly maxIterations: number;
  /** Peak learning rate of the backbone group. Default 1e-3 (mmseg's SETR-PUP ADE20K config, SGD). */
  readonly learningRate: number;
  /** The heads' rate over the backbone group's. Default 10 (mmseg's `lr_mult=10` on every key containing 'head'). */
  readonly headLearningRateMultiplier: number;
  /** Exponent of the poly schedule. Default 0.9. */
  readonly power: number;
  /**
   * Floor of both groups' rates. Default 1e-4, mmseg's schedule_160k (`min_lr`/`eta_min`): the heads
   * then decay to the same floor, so their rate is exactly 10x the backbone's only with 0.
   */
  readonly minLearningRate: number;
  /** Step i's random ops (drop path, prompt dropout, head dropout) use seed + i. Default 0. */
  readonly seed: number;
  /** Iteration to start from, for a resumed run. Default 0. */
  readonly startIteration: number;
}

export type SegmentationTrainerConfigInput = Partial<SegmentationTrainerConfig> & Pick<SegmentationTrainerConfig, 'maxIterations'>;

const TRAINER_FIELDS = ['maxIterations', 'learningRate', 'headLearningRateMultiplier', 'power', 'minLearningRate', 'seed', 'startIteration'];

export function resolveSegmentationTrainerConfig(input: SegmentationTrainerConfigInput): SegmentationTrainerConfig {
  const fields = knownOptions('config', input, TRAINER_FIELDS);
  const maxIterations = integer('maxIterations', fields.maxIterations, 1);
  const learningRate = positiveNumber('learningRate', fields.learningRate ?? 1e-3);
  const headLearningRateMultiplier = positiveNumber('headLearningRateMultiplier', fields.headLearningRateMultiplier ?? 10);
  const startIteration = integer('startIteration', fields.startIteration ?? 0, 0);
  if (startIteration >= maxIterations) throw new ConfigError('startIteration', startIteration, `must be below maxIterations (${maxIterations})`);
  return {
    maxIterations,
    learningRate,
    headLearningRateMultiplier,
    power: positiveNumber('power', fields.power ?? 0.9),
    minLearningRate: numberInRange('minLearningRate', fields.minLearningRate ?? 1e-4, { min: 0, max: Math.min(learningRate, learningRate * headLearningRateMultiplier) }),
    seed: integer('seed', fields.seed ?? 0, 0),
    startIteration,
  };
}

export interface GroupLearningRates {
  readonly backbone: number;
  readonly head: number;
}

export interface SegmentationStepResult {
  /** The iteration this step ran (0-based). */
  readonly iteration: number;
  /** decode + auxiliaryWeight * sum(auxiliary). */
  readonly loss: number;
  readonly decodeLoss: number;
  readonly auxiliaryLosses: readonly number[];
  readonly learningRates: GroupLearningRates;
}

type GroupName = keyof SegmentationOptimizers;

/**
 * The training step of SETR-PUP on a tuned ViT (docs/recipes.md, ADE20K): one backbone pass feeds the
 * decode and auxiliary heads, loss = decode + 0.4 * each auxiliary, gradients for the backbone
 * group (what the tuning method trains) and the heads, each group updated by its own optimiser at
 * its poly-scheduled rate, the heads at 10x. The optimisers are the caller's: this class never
 * creates, owns or disposes one.
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
    const { images, labels } = batchTensors(batch);
    const kept: tf.Tensor[] = [images, labels];
    try {
      const parts: { decode?: tf.Scalar; auxiliary?: tf.Scalar[] } = {};
      const variables = [...this.groups.values()].flat();
      const { value, grads } = leanVariableGrads(() => {
        const losses = this.model.losses(images, labels, { training: true, seed: this.config.seed + iteration });
        parts.decode = tf.keep(losses.decode);
        parts.auxiliary = losses.auxiliary.map((loss) => tf.keep(loss));
        kept.push(parts.decode, ...parts.auxiliary);
        return losses.total;
      }, variables);
      kept.push(value, ...Object.values(grads));
      for (const [group, groupVariables] of this.groups) {
        const gradients: tf.NamedTensorMap = {};
        // A variable the loss does not reach has no gradient and keeps its value, as in PyTorch.
        for (const variable of groupVariables) {
          const gradient = grads[variable.name];
          if (gradient !== undefined && gradient !== null) gradients[variable.name] = gradient;
        }
        if (Object.keys(gradients).length > 0) this.updates.get(group)!(gradients, learningRates[group]);
      }
      this.current = iteration + 1;
      return {
        iteration,
        loss: value.dataSync()[0]!,
        decodeLoss: parts.decode!.dataSync()[0]!,
        auxiliaryLosses: parts.auxiliary!.map((loss) => loss.dataSync()[0]!),
        learningRates,
      };
    } finally {
      tf.dispose(kept);
    }
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

import type * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@visual-peft/training';
import type { TuningMethod, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { applyTrainablePolicy } from '@visual-peft/vit-core';
import { buildMethod, disposeMethods, findMethod } from '../methods';
import type { OptionValue } from '../set-options';
import { syntheticBatch, syntheticSource } from './synthetic-data';

/**
 * Options of a measured method that depend on the backbone. SCT's K is the paper's 96 channels of
 * ViT-B's 768 (the default there), kept at that share of a narrower model's width.
 */
const BACKBONE_OPTIONS: Readonly<Record<string, (config: VitConfig) => Record<string, OptionValue>>> = {
  sct: (config) => ({ k: Math.max(1, Math.round(config.embedDim / 8)) }),
};

/** A method's options for `speed` and `memory`: the backbone-dependent defaults, then what was given. */
export function stepOptions(method: string, config: VitConfig, given: Readonly<Record<string, OptionValue>> = {}): Record<string, OptionValue> {
  return { ...BACKBONE_OPTIONS[method]?.(config), ...given };
}

/**
 * One training step of a method on the whole model, as `train` runs it: @visual-peft/training's
 * Trainer (forward, softmax cross-entropy, backward, SGD with momentum) on one batch of synthetic
 * images, with the method's own training forward (VQT's frozen pass off the tape, a linear probe's
 * backbone off the tape) and its data-dependent set-up (SCT's channels) done once beforehand.
 */
export interface TrainingStep {
  /** One step; each call builds a fresh trainer (its optimiser state included) and frees it after. */
  readonly run: () => Promise<void>;
  readonly dispose: () => void;
  /** Bytes of the weights, plus the gradients and momentum of those that train. */
  readonly stateBytes: number;
}

export interface TrainingStepOptions {
  /** The method's options (`stepOptions` fills the backbone-dependent defaults under them). */
  readonly options?: Readonly<Record<string, OptionValue>>;
  /** TrainerOptions.recompute: per-block activation checkpointing. */
  readonly recompute?: boolean;
}

/** The papers' SGD with momentum 0.9; the rate changes neither time nor memory. */
const TRAINER_CONFIG = { epochs: 1, stepsPerEpoch: 1, optimizer: { kind: 'sgd', learningRate: 1e-3, momentum: 0.9 }, schedule: { kind: 'constant' } } as const;

export async function trainingStep(model: VisionTransformer, methodName: string, batch: number, settings: TrainingStepOptions = {}): Promise<TrainingStep> {
  const entry = findMethod(methodName);
  applyTrainablePolicy(model, entry.policy);
  const methods: TuningMethod[] = buildMethod(entry, model, stepOptions(methodName, model.config, settings.options));
  const dispose = () => disposeMethods(model, methods);
  try {
    const { inChans, imgSize } = model.config;
    const source = syntheticSource(syntheticBatch([batch, inChans, imgSize[0], imgSize[1]], model.numClasses));
    for (const method of methods) await method.prepare?.(source);
    const options = { recompute: settings.recompute ?? false };
    const run = async () => {
      const trainer = new Trainer(model, methods, TRAINER_CONFIG, options);
      try {
        await trainer.fit({ train: source });
      } finally {
        trainer.dispose();
      }
    };
    const bytes = (variables: readonly tf.Variable[]) => variables.reduce((total, variable) => total + variable.size * 4, 0);
    const trainable = new Trainer(model, methods, TRAINER_CONFIG, options);
    const trainableBytes = bytes(trainable.parameters.map((parameter) => parameter.variable));
    trainable.dispose();
    const weights = [...model.parameters.map((parameter) => parameter.variable), ...methods.flatMap((method) => method.trainableVariables())];
    return { run, dispose, stateBytes: bytes(weights) + 2 * trainableBytes };
  } catch (error) {
    dispose();
    throw error;
  }
}

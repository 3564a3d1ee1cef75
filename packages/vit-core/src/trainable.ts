import type { TuningMethod } from './extension';
import type { Parameter } from './parameter';
import { shapeSize } from './checkpoint/host-tensor';
import type { VisionTransformer } from './vision-transformer';
import { oneOf } from './validate';

/**
 * Which backbone weights train. 'frozen': none; 'linear': the head only (linear probe, and the
 * base of every prompt, query and channel method); 'bias': every weight timm names `*.bias` plus
 * the head (BitFit); 'full': everything (full fine-tuning).
 */
export type TrainablePolicy = 'frozen' | 'linear' | 'bias' | 'full';

export const TRAINABLE_POLICIES: readonly TrainablePolicy[] = ['frozen', 'linear', 'bias', 'full'];

function isHead(parameter: Parameter): boolean {
  return parameter.key.startsWith('head.');
}

/** Sets each backbone variable's `trainable` flag by the policy. */
export function applyTrainablePolicy(model: VisionTransformer, policy: TrainablePolicy): void {
  oneOf('policy', policy, TRAINABLE_POLICIES);
  for (const parameter of model.parameters) {
    parameter.variable.trainable =
      policy === 'full' ||
      ((policy === 'linear' || policy === 'bias') && isHead(parameter)) ||
      (policy === 'bias' && parameter.key.endsWith('.bias'));
  }
}

export interface ParameterCounts {
  /** Every parameter: backbone, head and methods. */
  readonly total: number;
  /** Parameters an optimiser updates: trainable backbone and head weights plus the methods' variables. */
  readonly trainable: number;
  /** Parameters the methods add to the backbone (their own classifiers excluded). */
  readonly extra: number;
  /** The trainable ones that belong to the backbone itself (head excluded): BitFit's count. */
  readonly trainableBackbone: number;
}

/** Exact parameter counts of a model with its attached methods. */
export function countParameters(model: VisionTransformer, methods: readonly TuningMethod[] = []): ParameterCounts {
  let total = 0;
  let trainable = 0;
  let trainableBackbone = 0;
  for (const parameter of model.parameters) {
    const size = shapeSize(parameter.timmShape);
    total += size;
    if (parameter.variable.trainable) {
      trainable += size;
      if (!isHead(parameter)) trainableBackbone += size;
    }
  }
  let extra = 0;
  for (const method of methods) {
    extra += method.numParameters();
    trainable += method.trainableVariables().reduce((sum, variable) => sum + variable.size, 0);
  }
  return { total: total + extra, trainable, extra, trainableBackbone };
}

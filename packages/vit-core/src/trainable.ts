import type { DeclaredVariable, MethodDefinition, TuningMethod } from './extension';
import { shapeSize } from './checkpoint/host-tensor';
import type { VitConfig } from './config';
import { MAX_VIT_PARAMETERS, vitParameterShapes } from './config';
import { ConfigError } from './errors';
import type { VisionTransformer } from './vision-transformer';
import { oneOf } from './validate';

/**
 * Which backbone weights train. 'frozen': none; 'linear': the head only (linear probe, and the
 * base of every prompt, query and channel method); 'bias': every weight timm names `*.bias` plus
 * the head (BitFit); 'full': everything (full fine-tuning).
 */
export type TrainablePolicy = 'frozen' | 'linear' | 'bias' | 'full';

export const TRAINABLE_POLICIES: readonly TrainablePolicy[] = ['frozen', 'linear', 'bias', 'full'];

function isHead(key: string): boolean {
  return key.startsWith('head.');
}

/** Whether the backbone weight under timm key `key` trains under `policy`. */
function trainsUnder(policy: TrainablePolicy, key: string): boolean {
  return policy === 'full' || ((policy === 'linear' || policy === 'bias') && isHead(key)) || (policy === 'bias' && key.endsWith('.bias'));
}

/** Sets each backbone variable's `trainable` flag by the policy. */
export function applyTrainablePolicy(model: VisionTransformer, policy: TrainablePolicy): void {
  oneOf('policy', policy, TRAINABLE_POLICIES);
  for (const parameter of model.parameters) parameter.variable.trainable = trainsUnder(policy, parameter.key);
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
      if (!isHead(parameter.key)) trainableBackbone += size;
    }
  }
  let extra = 0;
  for (const method of methods) {
    extra += method.numParameters();
    trainable += method.trainableVariables().reduce((sum, variable) => sum + variable.size, 0);
  }
  return { total: total + extra, trainable, extra, trainableBackbone };
}

/**
 * A definition's variables for a backbone of `config` (`MethodDefinition.variableShapes`), with their
 * total checked against `MAX_VIT_PARAMETERS` as `MethodBase` checks a built method's: options too
 * large to build are refused here, before any tensor exists.
 */
export function declaredVariables(definition: MethodDefinition, config: VitConfig, options: Readonly<Record<string, unknown>>): ReadonlyMap<string, DeclaredVariable> {
  const variables = definition.variableShapes(config, options);
  const held = [...variables.values()].reduce((sum, variable) => sum + shapeSize(variable.shape), 0);
  if (held > MAX_VIT_PARAMETERS) throw new ConfigError(`${definition.name} options`, options, `must give at most ${MAX_VIT_PARAMETERS} parameters (${held} declared)`);
  return variables;
}

/**
 * What `countParameters` gives for a backbone of `config` under `policy` with methods of these
 * declared variables (`declaredVariables`), from shapes alone: no tensor is built.
 */
export function countDeclaredParameters(config: VitConfig, policy: TrainablePolicy, methods: readonly ReadonlyMap<string, DeclaredVariable>[] = []): ParameterCounts {
  oneOf('policy', policy, TRAINABLE_POLICIES);
  let total = 0;
  let trainable = 0;
  let trainableBackbone = 0;
  for (const [key, shape] of vitParameterShapes(config)) {
    const size = shapeSize(shape);
    total += size;
    if (trainsUnder(policy, key)) {
      trainable += size;
      if (!isHead(key)) trainableBackbone += size;
    }
  }
  let extra = 0;
  for (const variable of methods.flatMap((method) => [...method.values()])) {
    const size = shapeSize(variable.shape);
    trainable += size;
    if (variable.classifier !== true) extra += size;
  }
  return { total: total + extra, trainable, extra, trainableBackbone };
}

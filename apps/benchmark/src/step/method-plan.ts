import type { VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, countParameters } from '@visual-peft/vit-core';
import { buildMethod, disposeMethods, findMethod } from '../methods';
import type { OptionValue } from '../set-options';
import { stepOptions } from './training-step';

/** A method as `memory` and `speed` measure it, and as the PyTorch references rebuild it. */
export interface MethodPlan {
  readonly name: string;
  readonly options: Record<string, OptionValue>;
  readonly trainable: number;
  /** The method's resolved config (empty for a pure policy), for the PyTorch reference. */
  readonly config: Readonly<Record<string, unknown>>;
}

/** Builds each method once on a zero-weight model: checks its options, counts what trains, reads its config. */
export function planMethods(config: VitConfig, options: ReadonlyMap<string, Record<string, OptionValue>>): MethodPlan[] {
  const model = new VisionTransformer(config, { weights: 'zeros' });
  try {
    return [...options].map(([name, given]) => {
      const entry = findMethod(name);
      applyTrainablePolicy(model, entry.policy);
      const methods = buildMethod(entry, model, stepOptions(name, config, given));
      try {
        return { name, options: given, trainable: countParameters(model, methods).trainable, config: methods[0]?.config ?? {} };
      } finally {
        disposeMethods(model, methods);
      }
    });
  } finally {
    model.dispose();
  }
}


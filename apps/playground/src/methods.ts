import { ADAPTER_METHOD_DEFINITIONS } from '@visual-peft/adapter-methods';
import { CHANNEL_TUNING_DEFINITIONS } from '@visual-peft/channel-tuning';
import { PROMPT_METHOD_DEFINITIONS } from '@visual-peft/prompt-methods';
import { QUERY_TUNING_DEFINITIONS } from '@visual-peft/query-tuning';
import type { OptimizerKind } from '@visual-peft/training';
import type { MethodDefinition } from '@visual-peft/vit-core';

/** Every method the packages define; the tuned-weights loader rebuilds methods from this list by name. */
export const DEFINITIONS: readonly MethodDefinition[] = [...PROMPT_METHOD_DEFINITIONS, ...QUERY_TUNING_DEFINITIONS, ...CHANNEL_TUNING_DEFINITIONS, ...ADAPTER_METHOD_DEFINITIONS];

export interface PlaygroundRecipe {
  readonly optimizer: OptimizerKind;
  readonly learningRate: number;
  readonly options: Readonly<Record<string, unknown>>;
}

/**
 * How the playground trains each method by default: the benchmark demo's recipe for the same
 * backbones (apps/benchmark/src/demo/demo-suite.ts): each paper's optimiser kind, the demo's
 * learning rate, no weight decay, prompt counts and SCT's K scaled to the 64-wide backbone.
 */
export const RECIPES: Readonly<Record<string, PlaygroundRecipe>> = {
  'vpt-shallow': { optimizer: 'sgd', learningRate: 0.1, options: { numPrompts: 8 } },
  'vpt-deep': { optimizer: 'sgd', learningRate: 0.1, options: { numPrompts: 8 } },
  'gated-prompt': { optimizer: 'sgd', learningRate: 0.1, options: { numPrompts: 8, gateInit: 5, dropout: 0.1 } },
  vqt: { optimizer: 'adam', learningRate: 0.02, options: {} },
  sct: { optimizer: 'adamw', learningRate: 0.02, options: { k: 8 } },
  adapter: { optimizer: 'sgd', learningRate: 0.02, options: {} },
  adaptformer: { optimizer: 'sgd', learningRate: 0.5, options: {} },
  lora: { optimizer: 'sgd', learningRate: 0.1, options: {} },
  ssf: { optimizer: 'sgd', learningRate: 0.02, options: {} },
};

/** A method's default recipe; a method the demo has none for trains like VPT (SGD 0.1, its own options). */
export function recipeFor(name: string): PlaygroundRecipe {
  return RECIPES[name] ?? { optimizer: 'sgd', learningRate: 0.1, options: {} };
}

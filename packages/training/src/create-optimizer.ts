import { knownOptions, numberInRange, oneOf, positiveNumber } from '@visual-peft/vit-core';
import type { AdamWOptions } from './adamw';
import { AdamW, resolveAdamWOptions } from './adamw';
import type { Optimizer, ParameterGroup } from './optimizer';
import { Sgd, resolveSgdOptions } from './sgd';

/**
 * 'sgd': torch.optim.SGD (VPT, GatedPT). 'adamw': decoupled weight decay (SPT, SCT).
 * 'adam': weight decay as L2 in the gradient, torch.optim.Adam (VQT).
 */
export type OptimizerKind = 'sgd' | 'adamw' | 'adam';

export interface OptimizerConfigInput {
  readonly kind: OptimizerKind;
  /**
   * Peak learning rate of every group but the head's (which may have its own). Required.
   * VPT: grid {50, 25, 10, 5, 2.5, 1, 0.5, 0.25, 0.1, 0.05} scaled by batch/256; GatedPT: 0.1;
   * SPT: 5e-2 (MAE) or 1e-3 (MoCo v3, supervised); VQT: {1.0, 0.5, 0.25, 0.1, 0.05} scaled by batch/256;
   * SCT: grid {0.1, 0.5, 0.01, 0.05, 0.001, 0.005, 1e-4, 5e-4}.
   */
  readonly learningRate: number;
  /**
   * Weight decay of the decayed groups. Default 0 for 'sgd' and 'adam' (PyTorch), 0.01 for 'adamw'
   * (PyTorch). VPT, VQT: grid {0.01, 1e-3, 1e-4, 0}; GatedPT: 0; SPT: 1e-2 (prompts);
   * SCT: grid {0.1, 0.01, 0.05, 0.001, 0.005, 5e-4, 1e-4}.
   */
  readonly weightDecay?: number;
  /** SGD: momentum factor. Default 0.9 (VPT, GatedPT; PyTorch's own default is 0). */
  readonly momentum?: number;
  /** SGD: dampening. Default 0. */
  readonly dampening?: number;
  /** SGD: Nesterov momentum. Default false. */
  readonly nesterov?: boolean;
  /** Adam(W): moment decay rates. Default [0.9, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Adam(W): denominator epsilon. Default 1e-8. */
  readonly eps?: number;
}

export type OptimizerConfig =
  | {
      readonly kind: 'sgd';
      readonly learningRate: number;
      readonly weightDecay: number;
      readonly momentum: number;
      readonly dampening: number;
      readonly nesterov: boolean;
    }
  | {
      readonly kind: 'adamw' | 'adam';
      readonly learningRate: number;
      readonly weightDecay: number;
      readonly betas: readonly [number, number];
      readonly eps: number;
    };

const COMMON_KEYS = ['kind', 'learningRate', 'weightDecay'] as const;
const SGD_KEYS = [...COMMON_KEYS, 'momentum', 'dampening', 'nesterov'];
const ADAM_KEYS = [...COMMON_KEYS, 'betas', 'eps'];

/** Validates an optimiser config (fields of another kind are refused) and fills the defaults. */
export function resolveOptimizerConfig(input: OptimizerConfigInput, field = 'optimizer'): OptimizerConfig {
  const kind = oneOf(`${field}.kind`, knownOptions(field, input, [...SGD_KEYS, ...ADAM_KEYS]).kind, ['sgd', 'adamw', 'adam'] as const);
  const raw = knownOptions(field, input, kind === 'sgd' ? SGD_KEYS : ADAM_KEYS);
  const learningRate = positiveNumber(`${field}.learningRate`, raw.learningRate);
  const weightDecay = numberInRange(`${field}.weightDecay`, raw.weightDecay ?? (kind === 'adamw' ? 0.01 : 0), { min: 0 });
  if (kind === 'sgd') return { kind, learningRate, weightDecay, ...resolveSgdOptions(raw, `${field}.`) };
  const { betas, eps } = resolveAdamWOptions({ betas: raw.betas as AdamWOptions['betas'], eps: raw.eps as number | undefined }, `${field}.`);
  return { kind, learningRate, weightDecay, betas, eps };
}

/** The optimiser of a config over the given groups (each group carries its own rate and decay). */
export function createOptimizer(config: OptimizerConfig, groups: readonly ParameterGroup[]): Optimizer {
  if (config.kind === 'sgd') return new Sgd(groups, config);
  return new AdamW(groups, { betas: config.betas, eps: config.eps, decoupledWeightDecay: config.kind === 'adamw' });
}

import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, flag, numberInRange, positiveNumber } from '@visual-peft/vit-core';
import type { ParameterGroup, UpdateContext, UpdateResult } from './optimizer';
import { Optimizer } from './optimizer';

export interface AdamWOptions {
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999] (PyTorch; every paper here). */
  readonly betas?: readonly [number, number];
  /** Added to the denominator. Default 1e-8 (PyTorch). */
  readonly eps?: number;
  /**
   * true (AdamW, Loshchilov & Hutter): weight decay shrinks the parameter, `p * (1 - lr * wd)`,
   * outside the adaptive step. false (Adam): it is added to the gradient as L2 regularisation, as
   * torch.optim.Adam does (VQT's optimiser). Default true.
   */
  readonly decoupledWeightDecay?: boolean;
}

/** Validates Adam(W)'s options and fills the defaults; `prefix` goes in front of field names in errors. */
export function resolveAdamWOptions(options: AdamWOptions, prefix = ''): Required<AdamWOptions> {
  const betas: unknown = options.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) throw new ConfigError(`${prefix}betas`, betas, 'must be a pair [beta1, beta2]');
  return {
    betas: [
      numberInRange(`${prefix}betas[0]`, betas[0], { min: 0, max: 1, exclusiveMax: true }),
      numberInRange(`${prefix}betas[1]`, betas[1], { min: 0, max: 1, exclusiveMax: true }),
    ],
    eps: positiveNumber(`${prefix}eps`, options.eps ?? 1e-8),
    decoupledWeightDecay: flag(`${prefix}decoupledWeightDecay`, options.decoupledWeightDecay ?? true),
  };
}

/**
 * Adam and AdamW exactly as torch.optim.AdamW / Adam compute them (amsgrad off):
 * `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
 * `p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
 */
export class AdamW extends Optimizer {
  readonly kind: 'adamw' | 'adam';
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly decoupledWeightDecay: boolean;
  protected readonly slotNames = ['exp_avg', 'exp_avg_sq'] as const;

  constructor(groups: readonly ParameterGroup[], options: AdamWOptions = {}) {
    super(groups);
    ({ betas: this.betas, eps: this.eps, decoupledWeightDecay: this.decoupledWeightDecay } = resolveAdamWOptions(options));
    this.kind = this.decoupledWeightDecay ? 'adamw' : 'adam';
  }

  protected update(
    parameter: tf.Tensor,
    gradient: tf.Tensor,
    slots: Readonly<Record<string, tf.Tensor>> | null,
    { learningRate, weightDecay, step }: UpdateContext,
  ): UpdateResult {
    const [beta1, beta2] = this.betas;
    let value = parameter;
    let g = gradient;
    if (weightDecay !== 0) {
      if (this.decoupledWeightDecay) value = tf.mul(parameter, 1 - learningRate * weightDecay);
      else g = tf.add(gradient, tf.mul(parameter, weightDecay));
    }
    const firstMoment = slots === null ? tf.mul(g, 1 - beta1) : tf.add(tf.mul(slots.exp_avg!, beta1), tf.mul(g, 1 - beta1));
    const secondMoment =
      slots === null ? tf.mul(tf.square(g), 1 - beta2) : tf.add(tf.mul(slots.exp_avg_sq!, beta2), tf.mul(tf.square(g), 1 - beta2));
    const stepSize = learningRate / (1 - beta1 ** step);
    const denominator = tf.add(tf.div(tf.sqrt(secondMoment), Math.sqrt(1 - beta2 ** step)), this.eps);
    return {
      value: tf.sub(value, tf.mul(tf.div(firstMoment, denominator), stepSize)),
      slots: { exp_avg: firstMoment, exp_avg_sq: secondMoment },
    };
  }
}

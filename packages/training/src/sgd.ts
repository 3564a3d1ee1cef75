import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, flag, numberInRange } from '@visual-peft/vit-core';
import type { ParameterGroup, UpdateContext, UpdateResult } from './optimizer';
import { Optimizer } from './optimizer';

export interface SgdOptions {
  /** Momentum factor. Default 0.9 (VPT, GatedPT; PyTorch's own default is 0). */
  readonly momentum?: number;
  /** Dampening of the momentum. Default 0 (PyTorch). */
  readonly dampening?: number;
  /** Nesterov momentum; needs momentum > 0 and dampening 0. Default false. */
  readonly nesterov?: boolean;
}

/** Validates SGD's options and fills the defaults; `prefix` goes in front of field names in errors. */
export function resolveSgdOptions(options: SgdOptions, prefix = ''): Required<SgdOptions> {
  const momentum = numberInRange(`${prefix}momentum`, options.momentum ?? 0.9, { min: 0 });
  const dampening = numberInRange(`${prefix}dampening`, options.dampening ?? 0, { min: 0 });
  const nesterov = flag(`${prefix}nesterov`, options.nesterov ?? false);
  if (nesterov && (momentum === 0 || dampening !== 0)) {
    throw new ConfigError(`${prefix}nesterov`, true, `needs momentum > 0 and dampening 0 (momentum ${momentum}, dampening ${dampening})`);
  }
  return { momentum, dampening, nesterov };
}

/**
 * Stochastic gradient descent with momentum, exactly as torch.optim.SGD: weight decay is added to
 * the gradient (`g + wd * p`, L2 regularisation); the momentum buffer starts as the first
 * gradient, then `b = momentum * b + (1 - dampening) * g`; the step is `p - lr * b`, or
 * `p - lr * (g + momentum * b)` with Nesterov.
 */
export class Sgd extends Optimizer {
  readonly kind = 'sgd';
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  protected readonly slotNames: readonly string[];

  constructor(groups: readonly ParameterGroup[], options: SgdOptions = {}) {
    super(groups);
    ({ momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov } = resolveSgdOptions(options));
    this.slotNames = this.momentum === 0 ? [] : ['momentum_buffer'];
  }

  protected update(
    parameter: tf.Tensor,
    gradient: tf.Tensor,
    slots: Readonly<Record<string, tf.Tensor>> | null,
    { learningRate, weightDecay }: UpdateContext,
  ): UpdateResult {
    let direction = weightDecay === 0 ? gradient : tf.add(gradient, tf.mul(parameter, weightDecay));
    if (this.momentum === 0) return { value: tf.sub(parameter, tf.mul(direction, learningRate)), slots: {} };
    const previous = slots?.momentum_buffer;
    const buffer =
      previous === undefined
        ? tf.clone(direction)
        : tf.add(tf.mul(previous, this.momentum), tf.mul(direction, 1 - this.dampening));
    direction = this.nesterov ? tf.add(direction, tf.mul(buffer, this.momentum)) : buffer;
    return { value: tf.sub(parameter, tf.mul(direction, learningRate)), slots: { momentum_buffer: buffer } };
  }
}

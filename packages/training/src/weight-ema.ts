import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from '@visual-peft/vit-core';
import { FormatError, fromHostTensor, numberInRange, toHostTensor } from '@visual-peft/vit-core';
import { requireFloat32Shape } from './host-tensors';
import type { TrainableParameter } from './optimizer';

/**
 * Exponential moving average of trainable weights (timm's ModelEma): a shadow copy that starts
 * equal to the weights and after every optimiser step becomes `decay * shadow + (1 - decay) * w`.
 * SPT evaluates the average with decay 0.9999.
 */
export class WeightEma {
  readonly decay: number;
  private readonly shadows: Map<string, tf.Variable>;

  constructor(
    readonly parameters: readonly TrainableParameter[],
    decay: number,
  ) {
    this.decay = numberInRange('ema.decay', decay, { min: 0, max: 1, exclusiveMax: true });
    this.shadows = new Map(parameters.map((parameter) => [parameter.key, tf.variable(parameter.variable, false)]));
  }

  /** One averaging step, after the optimiser's. */
  update(): void {
    tf.tidy(() => {
      for (const parameter of this.parameters) {
        const shadow = this.shadows.get(parameter.key)!;
        shadow.assign(tf.add(tf.mul(shadow, this.decay), tf.mul(parameter.variable, 1 - this.decay)));
      }
    });
  }

  /**
   * Runs `fn` with the averaged values in the weights, then puts the trained values back exactly
   * (also when `fn` throws).
   */
  async withAverage<T>(fn: () => Promise<T> | T): Promise<T> {
    const trained = this.parameters.map((parameter) => tf.clone(parameter.variable));
    try {
      for (const parameter of this.parameters) parameter.variable.assign(this.shadows.get(parameter.key)!);
      return await fn();
    } finally {
      this.parameters.forEach((parameter, index) => parameter.variable.assign(trained[index]!));
      tf.dispose(trained);
    }
  }

  /** The averages on the host, by parameter key. */
  state(): Map<string, HostTensor> {
    return new Map([...this.shadows].map(([key, shadow]) => [key, toHostTensor(shadow)]));
  }

  /** Restores saved averages; every parameter must be there with its shape. */
  loadState(state: ReadonlyMap<string, HostTensor>, source = 'EMA state'): void {
    const missing = [...this.shadows.keys()].filter((key) => !state.has(key));
    const unexpected = [...state.keys()].filter((key) => !this.shadows.has(key));
    if (missing.length > 0 || unexpected.length > 0) {
      throw new FormatError(source, `EMA weights do not fit the parameters (missing: ${missing.join(', ') || 'none'}; unexpected: ${unexpected.join(', ') || 'none'})`);
    }
    for (const [key, host] of state) requireFloat32Shape(source, `EMA weight ${key}`, host, this.shadows.get(key)!.shape);
    for (const [key, host] of state) tf.tidy(() => this.shadows.get(key)!.assign(fromHostTensor(host)));
  }

  dispose(): void {
    for (const shadow of this.shadows.values()) shadow.dispose();
    this.shadows.clear();
  }
}

import * as tf from '@tensorflow/tfjs-core';
import type { TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';

/** Methods whose update currently lives in a backbone's weights, and that backbone. */
const merged = new WeakMap<TuningMethod, VisionTransformer>();

/** The model a method was merged into, or undefined while its update lives in its own variables. */
export function mergedInto(method: TuningMethod): VisionTransformer | undefined {
  return merged.get(method);
}

/** Hooks call this: a merged method's update is already in the weights and must not apply twice. */
export function refuseIfMerged(method: TuningMethod): void {
  if (merged.has(method)) {
    throw new ConfigError('method', method.name, 'is merged into the backbone weights, so it must not be attached as well');
  }
}

/** Starts a merge: refuses a method merged already, and detaches it so its hooks stop applying. */
export function beginMerge(model: VisionTransformer, method: TuningMethod): void {
  if (merged.has(method)) throw new ConfigError('method', method.name, 'is merged already');
  if (model.extensions.includes(method)) model.detach(method);
}

export function setMerged(method: TuningMethod, model: VisionTransformer | null): void {
  if (model === null) merged.delete(method);
  else merged.set(method, model);
}

/**
 * A method's update folded into backbone weights: for each weight it changes (timm key), its new
 * value in the model's layout computed from the current one. `mergeLora`/`mergeSsf` assign it to
 * the model; `foldedStateDict` applies it to copies.
 */
export type WeightFold = ReadonlyMap<string, (current: tf.Tensor) => tf.Tensor>;

/** Assigns a fold's new values to the model's weights. */
export function assignFold(model: VisionTransformer, fold: WeightFold): void {
  for (const parameter of model.parameters) {
    const update = fold.get(parameter.key);
    if (update !== undefined) tf.tidy(() => parameter.variable.assign(update(parameter.variable)));
  }
}

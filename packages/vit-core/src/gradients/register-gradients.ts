import { getGradient, registerGradient } from '@tensorflow/tfjs-core';
import { TFJS_GRADIENTS } from './tfjs-gradients';

/**
 * Registers tfjs-core's gradient for every kernel that has none yet and returns how many it
 * registered (0 on a second call). A gradient already registered (by `@tensorflow/tfjs`, or a
 * user's own) is never replaced. tfjs-core alone registers no gradient, so training on it fails
 * with "gradient function not found"; `new VisionTransformer(...)` calls this, so building a model
 * is enough to train, and importing a package registers nothing.
 */
export function registerGradients(): number {
  let registered = 0;
  for (const config of TFJS_GRADIENTS) {
    if (getGradient(config.kernelName) !== undefined) continue;
    registerGradient(config);
    registered += 1;
  }
  return registered;
}

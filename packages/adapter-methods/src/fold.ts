import * as tf from '@tensorflow/tfjs-core';
import type { StateDict, VisionTransformer, VitExtension } from '@visual-peft/vit-core';
import { VisualPeftError } from '@visual-peft/vit-core';
import { LoraMethod, checkLoraFits, loraFold } from './lora';
import type { WeightFold } from './merge-state';
import { mergedInto } from './merge-state';
import { SsfMethod, ssfFold } from './ssf';

/** Why a method's update cannot live in the backbone's own weights, by method name. */
const NOT_FOLDABLE: Readonly<Record<string, string>> = {
  adapter: 'its bottleneck has a GELU between the two projections, so no weight of the backbone can hold it exactly',
  adaptformer: 'its bottleneck has a ReLU between the two projections, so no weight of the backbone can hold it exactly',
};

/**
 * A method was asked to fold into the backbone's weights but its update is not a change of those
 * weights (prompts, query tokens, a nonlinear branch, a map on selected residual channels).
 */
export class NotMergeableError extends VisualPeftError {
  constructor(
    readonly method: string,
    readonly reason: string,
  ) {
    super(
      `${method} does not fold into the backbone's weights: ${reason}. Only LoRA and SSF fold (and the bias, full and linear ` +
        `policies, which train the backbone's own weights); export a method like ${method} as its own tensors instead ` +
        `(visual-peft-bench export writes them under the official code's parameter names)`,
    );
  }
}

/** The method's fold against `model`, checked; refuses anything that is not LoRA or SSF. */
function foldOf(model: VisionTransformer, extension: VitExtension): WeightFold {
  if (extension instanceof LoraMethod) {
    checkLoraFits(model, extension);
    return loraFold(model, extension, 1);
  }
  if (extension instanceof SsfMethod) return ssfFold(model, extension);
  throw new NotMergeableError(extension.name, NOT_FOLDABLE[extension.name] ?? 'it is not LoRA or SSF, the methods whose update is a change of backbone weights');
}

/**
 * The tuned model as one plain timm-named state dict: every method attached to `model` folded, in
 * attach order, into copies of the backbone's weights, and the head as it is. A timm
 * `VisionTransformer` of the same config that loads it computes the logits of `model` with its
 * methods attached (to float rounding). The model and the methods are left as they are. Methods
 * merged already (`mergeLora`, `mergeSsf`) are in the weights and are not attached, so they count
 * once. Every attached method is checked before anything is computed: one that does not fold
 * throws `NotMergeableError`.
 */
export function foldedStateDict(model: VisionTransformer): StateDict {
  const folds = model.extensions.map((extension) => foldOf(model, extension));
  for (const extension of model.extensions) {
    const into = mergedInto(extension as LoraMethod);
    // An attached method that is also merged would count twice; its hooks refuse to run for that reason.
    if (into !== undefined) throw new NotMergeableError(extension.name, 'it is attached and merged at the same time');
  }
  const stateDict: StateDict = new Map();
  tf.tidy(() => {
    const values = new Map<string, tf.Tensor>(model.parameters.map((parameter) => [parameter.key, parameter.variable]));
    for (const fold of folds) {
      for (const [key, update] of fold) values.set(key, update(values.get(key)!));
    }
    for (const { key, timmShape, layout } of model.parameters) {
      const value = values.get(key)!;
      // The model keeps linear weights [in, out] and the patch kernel as [C*p*p, D]; timm's layout is the transpose, reshaped.
      const timm = layout === 'identity' ? value : tf.reshape(tf.transpose(value), [...timmShape]);
      stateDict.set(key, { dtype: 'float32', shape: [...timmShape], data: new Float32Array(timm.dataSync()) });
    }
  });
  return stateDict;
}

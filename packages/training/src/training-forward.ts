import * as tf from '@tensorflow/tfjs-core';
import type { ForwardPassContext, TrainingForward, VisionTransformer } from '@visual-peft/vit-core';

export type { ForwardPassContext, TrainingForward } from '@visual-peft/vit-core';

/** True when only the classifier trains and no extension is attached: a linear probe. */
function onlyHeadTrains(model: VisionTransformer): boolean {
  return model.extensions.length === 0 && model.parameters.every((parameter) => !parameter.variable.trainable || parameter.key.startsWith('head.'));
}

/**
 * How a trainer runs `model`: the training forward of the attached method that brings its own
 * (`VitExtension.trainingForward`: VQT keeps the frozen backbone off the tape), else the model's own
 * forward pass (with every attached method), in training mode with the step's seed.
 * In a linear probe the backbone runs in `prepare`, off the gradient tape: the tape then holds the
 * head alone instead of every activation of the backbone, as autograd does when no backbone weight
 * requires a gradient. Decided at each step, so a policy changed between fits is honoured.
 */
export function modelForward(model: VisionTransformer): TrainingForward {
  const plain = plainForward(model) as TrainingForward;
  // Chosen again at every call, so methods attached, detached or switched off between fits are honoured.
  const current = (): TrainingForward => model.activeExtensions.find((extension) => extension.trainingForward !== undefined)?.trainingForward!() ?? plain;
  return {
    prepare: (images, context) => current().prepare?.(images, context) ?? [],
    logits: (images, context, prepared) => {
      const forward = current();
      return forward.logits(images, context, forward.prepare === undefined ? undefined : prepared);
    },
    // A getter, so that a trainer sees no penalty (and adds nothing to the loss) unless the current forward has one.
    get penalty() {
      return current().penalty;
    },
  };
}

function plainForward(model: VisionTransformer): TrainingForward<tf.Tensor3D | []> {
  const options = (context: ForwardPassContext) => ({
    training: context.training,
    seed: context.seed,
    imageOffset: context.imageOffset,
    recompute: context.recompute,
  });
  return {
    prepare: (images, context) => (onlyHeadTrains(model) ? model.forwardFeatures(images, options(context)) : []),
    logits: (images, context, features) =>
      features instanceof tf.Tensor ? model.forwardHead(features, options(context)) : model.forward(images, options(context)),
  };
}

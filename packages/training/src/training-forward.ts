import * as tf from '@tensorflow/tfjs-core';
import type { VisionTransformer } from '@visual-peft/vit-core';

/** What a forward pass of the trainer or of `evaluate` is told. */
export interface ForwardPassContext {
  /** True in a training step (dropout, drop path on), false in evaluation. */
  readonly training: boolean;
  /** The step's seed for every random op; undefined in evaluation. */
  readonly seed: number | undefined;
  /** 0-based epoch. */
  readonly epoch: number;
  /** Steps completed before this pass, over the whole run. */
  readonly globalStep: number;
  /** Position of this pass's first image in the step's batch (micro-batches); 0 in evaluation. */
  readonly imageOffset: number;
  /** Per-block activation checkpointing (recompute blocks in the backward pass). */
  readonly recompute: boolean;
}

/**
 * How the trainer turns images into logits, in two parts so that a method can keep work off the
 * gradient tape. `prepare` runs before the tape opens: nothing it computes is recorded or kept for
 * back-propagation, and its tensors reach `logits` as constants (Visual Query Tuning runs the frozen
 * backbone here and only the query path in `logits`). `logits` runs on the tape. `penalty`, when
 * present, is added to the training loss on the tape (a regulariser such as VQT's group lasso).
 * The trainer disposes what `prepare` returns after the step. The default is `modelForward(model)`.
 */
export interface TrainingForward<Prepared extends tf.TensorContainer = tf.TensorContainer> {
  prepare?(images: tf.Tensor4D, context: ForwardPassContext): Prepared;
  logits(images: tf.Tensor4D, context: ForwardPassContext, prepared: Prepared | undefined): tf.Tensor2D;
  penalty?(context: ForwardPassContext): tf.Scalar;
}

/** True when only the classifier trains and no extension is attached: a linear probe. */
function onlyHeadTrains(model: VisionTransformer): boolean {
  return model.extensions.length === 0 && model.parameters.every((parameter) => !parameter.variable.trainable || parameter.key.startsWith('head.'));
}

/**
 * The model's own forward pass (with every attached method), in training mode with the step's seed.
 * In a linear probe the backbone runs in `prepare`, off the gradient tape: the tape then holds the
 * head alone instead of every activation of the backbone, as autograd does when no backbone weight
 * requires a gradient. Decided at each step, so a policy changed between fits is honoured.
 */
export function modelForward(model: VisionTransformer): TrainingForward<tf.Tensor3D | []> {
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

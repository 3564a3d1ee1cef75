import type * as tf from '@tensorflow/tfjs-core';

/** What a forward pass of a trainer or of an evaluation is told. */
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
 * How a trainer turns images into logits, in two parts so that a method can keep work off the
 * gradient tape. `prepare` runs before the tape opens: nothing it computes is recorded or kept for
 * back-propagation, and its tensors reach `logits` as constants (Visual Query Tuning runs the frozen
 * backbone here and only the query path in `logits`). `logits` runs on the tape. `penalty`, when
 * present, is added to the training loss on the tape (a regulariser). The trainer disposes what
 * `prepare` returns after the step. A method supplies one through `VitExtension.trainingForward`;
 * `@visual-peft/training`'s `modelForward(model)` picks it up, or runs the model's own forward.
 */
export interface TrainingForward<Prepared extends tf.TensorContainer = tf.TensorContainer> {
  prepare?(images: tf.Tensor4D, context: ForwardPassContext): Prepared;
  logits(images: tf.Tensor4D, context: ForwardPassContext, prepared: Prepared | undefined): tf.Tensor2D;
  penalty?(context: ForwardPassContext): tf.Scalar;
}

import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { batchTensors, checkLogits } from './batch-tensors';
import { crossEntropyPerSample } from './loss';
import type { TrainingForward } from './training-forward';
import { modelForward } from './training-forward';

/** Metrics of one pass over an evaluation split. */
export interface EvaluationResult {
  /** Mean cross-entropy (no label smoothing). */
  readonly loss: number;
  /** Fraction of images whose highest logit is their label (ties go to the lower class id). */
  readonly top1: number;
  /** Mean over the classes present in the split of each class's top-1 (balanced accuracy). */
  readonly perClassAccuracy: number;
  /** Top-1 of each class id, null for a class with no image in the split. */
  readonly classAccuracy: readonly (number | null)[];
  /** Images seen. */
  readonly count: number;
}

export interface EvaluateOptions {
  /** How images become logits. Default `modelForward(model)`. */
  readonly forward?: TrainingForward;
  /** Passed to the batch source and the forward context. Default 0. */
  readonly epoch?: number;
  /** Passed to the forward context. Default 0. */
  readonly globalStep?: number;
}

/** Runs the model (not in training mode) over every batch of `source` and measures it. */
export async function evaluate(model: VisionTransformer, source: BatchSource, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const forward = options.forward ?? modelForward(model);
  const context = { training: false, seed: undefined, epoch: options.epoch ?? 0, globalStep: options.globalStep ?? 0, imageOffset: 0, recompute: false };
  let lossSum = 0;
  let correctCount = 0;
  let count = 0;
  const perClass: { seen: number; correct: number }[] = [];
  for await (const batch of source(context.epoch)) {
    const tensors = batchTensors(batch);
    let outputs: [tf.Tensor1D, tf.Tensor1D] | undefined;
    try {
      outputs = tf.tidy(() => {
        const prepared = forward.prepare?.(tensors.images, context);
        const logits = forward.logits(tensors.images, context, prepared);
        checkLogits(logits.shape, tensors);
        const classes = logits.shape[1];
        if (perClass.length === 0) perClass.push(...Array.from({ length: classes }, () => ({ seen: 0, correct: 0 })));
        if (perClass.length !== classes) throw new ShapeError(`logits have ${classes} classes after ${perClass.length} in earlier batches`);
        return [crossEntropyPerSample(logits, tensors.labels), tf.argMax(logits, 1) as tf.Tensor1D];
      });
      const [losses, predictions] = await Promise.all([outputs[0].data(), outputs[1].data()]);
      batch.labels.forEach((label, index) => {
        const correct = predictions[index] === label;
        lossSum += losses[index]!;
        correctCount += correct ? 1 : 0;
        perClass[label]!.seen += 1;
        perClass[label]!.correct += correct ? 1 : 0;
      });
      count += batch.labels.length;
    } finally {
      tf.dispose([tensors.images, tensors.labels, ...(outputs ?? [])]);
    }
  }
  if (count === 0) throw new ConfigError('source', 0, 'must yield at least one image to evaluate on');
  const classAccuracy = perClass.map(({ seen, correct }) => (seen === 0 ? null : correct / seen));
  const present = classAccuracy.filter((accuracy): accuracy is number => accuracy !== null);
  return {
    loss: lossSum / count,
    top1: correctCount / count,
    perClassAccuracy: present.reduce((sum, accuracy) => sum + accuracy, 0) / present.length,
    classAccuracy,
    count,
  };
}

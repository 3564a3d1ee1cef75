import type { ClassificationSplit } from '@visual-peft/datasets';
import { createBatchSource, pipelinePreset } from '@visual-peft/datasets';
import { Trainer } from '@visual-peft/training';
import type { StateDict, VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, loadStateDict } from '@visual-peft/vit-core';

export interface LinearProbeSettings {
  readonly epochs: number;
  readonly batchSize: number;
  /** AdamW on the head alone, cosine per step, no weight decay. */
  readonly learningRate: number;
  readonly seed: number;
}

export const DEFAULT_LINEAR_PROBE: LinearProbeSettings = { epochs: 30, batchSize: 64, learningRate: 1e-2, seed: 0 };

export interface LinearProbeResult {
  /** Top-1 on the test split after the last epoch. */
  readonly top1: number;
  /** Mean training loss of the last epoch. */
  readonly trainLoss: number;
}

/**
 * How much a backbone's frozen features know about a task: a fresh linear head trained on `train`
 * over the frozen backbone (`weights`, or its random initialisation when null) and measured on
 * `test`. The check that pretraining produced real features: it must beat the random backbone.
 * Null when `signal` aborted it (after a step; nothing of it is kept).
 */
export async function linearProbe(
  config: VitConfig,
  weights: StateDict | null,
  splits: { readonly train: ClassificationSplit; readonly test: ClassificationSplit },
  settings: LinearProbeSettings = DEFAULT_LINEAR_PROBE,
  signal?: AbortSignal,
): Promise<LinearProbeResult | null> {
  const model = new VisionTransformer({ ...config, numClasses: splits.train.numClasses }, { seed: settings.seed });
  try {
    if (weights !== null) loadStateDict(model, weights, { head: 'discard' });
    applyTrainablePolicy(model, 'linear');
    const pipeline = pipelinePreset('vtab', { imageSize: config.imgSize[0] });
    const train = createBatchSource(splits.train, { pipeline, batchSize: settings.batchSize, shuffle: true, dropLast: true, seed: settings.seed });
    const trainer = new Trainer(model, [], {
      epochs: settings.epochs,
      stepsPerEpoch: train.batchesPerEpoch,
      optimizer: { kind: 'adamw', learningRate: settings.learningRate, weightDecay: 0 },
      schedule: { kind: 'cosine', unit: 'step' },
      seed: settings.seed,
      evaluateEvery: settings.epochs,
    });
    try {
      const result = await trainer.fit({ train, validation: createBatchSource(splits.test, { pipeline, batchSize: 256 }), ...(signal === undefined ? {} : { signal }) });
      if (result.status === 'stopped') return null;
      const last = result.history.at(-1)!;
      return { top1: last.evaluation!.top1, trainLoss: last.trainLoss };
    } finally {
      trainer.dispose();
    }
  } finally {
    model.dispose();
  }
}

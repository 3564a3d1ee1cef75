import type { ClassificationSplit } from '@visual-peft/datasets';
import { createBatchSource, pipelinePreset } from '@visual-peft/datasets';
import type { EpochSummary } from '@visual-peft/training';
import { Trainer } from '@visual-peft/training';
import type { VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, applyTrainablePolicy } from '@visual-peft/vit-core';
import type { PretrainRecipe } from './pretrain-recipe';

export interface SupervisedPretrainOptions {
  /** Where the trainer's resumable checkpoint goes. */
  readonly checkpointDir: string;
  readonly onEpoch?: (epoch: EpochSummary, epochs: number) => void;
  /** Aborted: the run stops after its current step with the Trainer's checkpoint of it (`status: 'stopped'`). */
  readonly signal?: AbortSignal;
}

export interface SupervisedPretrainResult {
  readonly status: 'completed' | 'stopped';
  /** Training steps done, resumed ones included. */
  readonly steps: number;
  readonly epochsCompleted: number;
  readonly history: readonly EpochSummary[];
  readonly resumedFrom: number | null;
}

/**
 * Supervised pretraining: every weight of `model` (whose head has `train`'s classes) trains with
 * cross-entropy through the project's Trainer, evaluated on `validation` after each epoch; the
 * Trainer's checkpoints make it resumable.
 */
export async function pretrainSupervised(
  model: VisionTransformer,
  recipe: PretrainRecipe,
  train: ClassificationSplit,
  validation: ClassificationSplit,
  options: SupervisedPretrainOptions,
): Promise<SupervisedPretrainResult> {
  if (model.numClasses !== train.numClasses) throw new ConfigError('numClasses', model.numClasses, `must be the ${train.numClasses} classes of the pretraining data`);
  const pipeline = pipelinePreset('vtab', { imageSize: model.config.imgSize[0] });
  const source = createBatchSource(train, { pipeline, batchSize: recipe.batchSize, shuffle: true, dropLast: true, seed: recipe.seed });
  if (source.batchesPerEpoch < 1) throw new ConfigError('batchSize', recipe.batchSize, `must not exceed the ${train.examples.length} pretraining images`);
  applyTrainablePolicy(model, 'full');
  const trainer = new Trainer(model, [], {
    epochs: recipe.epochs,
    stepsPerEpoch: source.batchesPerEpoch,
    optimizer: recipe.optimizer,
    schedule: recipe.schedule,
    labelSmoothing: recipe.labelSmoothing,
    seed: recipe.seed,
  });
  try {
    const result = await trainer.fit({
      train: source,
      validation: createBatchSource(validation, { pipeline, batchSize: 256 }),
      outputDir: options.checkpointDir,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (event) => {
        if (event.type === 'epoch') options.onEpoch?.(event, recipe.epochs);
      },
    });
    return { status: result.status, steps: result.steps, epochsCompleted: result.epochsCompleted, history: result.history, resumedFrom: result.resumedFrom?.epoch ?? null };
  } finally {
    trainer.dispose();
  }
}

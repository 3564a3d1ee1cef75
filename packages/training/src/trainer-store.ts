import type { HostTensor } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';
import type { TunedWeightsManifest } from './tuned-weights';

export const TRAINING_CHECKPOINT_FORMAT = 'visual-peft-training-checkpoint';
/** The file whose replacement commits a checkpoint. */
export const CHECKPOINT_FILE = 'checkpoint.json';

/** A checkpoint: a JSON record (what the trainer needs besides tensors) and named host tensors. */
export interface TrainingCheckpoint {
  readonly record: Readonly<Record<string, unknown>>;
  readonly tensors: ReadonlyMap<string, HostTensor>;
}

/**
 * Where a Trainer keeps what it writes during `fit`: resumable checkpoints and the best epoch's
 * tuned weights. In Node, `outputDir` gives the file store (`fileTrainerStore`); in a browser, pass
 * your own (IndexedDB, memory, a download) as `FitOptions.store`.
 */
export interface TrainerStore {
  /** Names the store in messages (a folder, a database). */
  readonly location: string;
  /** Names the checkpoint in messages about its content. Default `location`. */
  readonly checkpointSource?: string;
  /** The latest checkpoint written, or null when there is none (a fresh run). */
  readCheckpoint(): Promise<TrainingCheckpoint | null>;
  /**
   * Keeps a checkpoint in place of the previous one; `tag` (letters, digits, '.', '_', '-') is the
   * run's step. Returns where it went, for the epoch event.
   */
  writeCheckpoint(tag: string, checkpoint: TrainingCheckpoint): Promise<string>;
  /** Keeps the best epoch's tuned weights: `bytes` are what `encodeTunedWeights` gives, `manifest` the JSON in them. */
  writeBestWeights(bytes: Uint8Array, manifest: TunedWeightsManifest): Promise<void>;
}

let outputDirStore: ((outputDir: string) => TrainerStore) | null = null;

/** Makes `FitOptions.outputDir` mean this store (the Node build sets the file store). */
export function setOutputDirStore(factory: (outputDir: string) => TrainerStore): void {
  outputDirStore = factory;
}

/** The store for `FitOptions.outputDir`: files in Node; a `ConfigError` in the browser build, which has no file system. */
export function storeForOutputDir(outputDir: string): TrainerStore {
  if (outputDirStore === null) {
    throw new ConfigError('outputDir', outputDir, 'needs a file system, which the browser build of @visual-peft/training has none of: pass FitOptions.store (a TrainerStore) instead');
  }
  return outputDirStore(outputDir);
}

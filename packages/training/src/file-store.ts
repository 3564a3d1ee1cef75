import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainerStore } from './trainer-store';
import { CHECKPOINT_FILE } from './trainer-store';
import { readTrainingCheckpoint, writeTrainingCheckpoint } from './training-checkpoint';
import { writeTunedWeightsFiles } from './tuned-weights-files';

/**
 * The store `FitOptions.outputDir` means in Node: `checkpoint.json` and its tensor file (see
 * `writeTrainingCheckpoint`), and the best epoch's `best.safetensors` / `best.json`, in `directory`
 * (created when missing).
 */
export function fileTrainerStore(directory: string): TrainerStore {
  return {
    location: directory,
    checkpointSource: join(directory, CHECKPOINT_FILE),
    // The folder is made when a run starts, as before stores existed, so that a bad path fails at once.
    readCheckpoint: async () => {
      await mkdir(directory, { recursive: true });
      return readTrainingCheckpoint(directory);
    },
    writeCheckpoint: (tag, checkpoint) => writeTrainingCheckpoint(directory, tag, checkpoint),
    writeBestWeights: (bytes, manifest) => writeTunedWeightsFiles(join(directory, 'best.safetensors'), bytes, manifest),
  };
}

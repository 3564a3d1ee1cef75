// The Node build (the `node` export condition): everything of the browser build plus files:
// training checkpoints, tuned-weights files, and `FitOptions.outputDir` as a folder.
import { fileTrainerStore } from './file-store';
import { setOutputDirStore } from './trainer-store';

export * from './index';
export { fileTrainerStore } from './file-store';
export { readTrainingCheckpoint, writeTrainingCheckpoint } from './training-checkpoint';
export { loadTunedWeights, readTunedWeights, saveTunedWeights } from './tuned-weights-files';
export type { LoadTunedModelOptions, TunedBackbone, TunedFilesSource, TunedModel, TunedRunSource } from './tuned-model';
export { loadTunedModel } from './tuned-model';

// One Trainer class for both builds: in this one, `outputDir` means a folder.
setOutputDirStore(fileTrainerStore);

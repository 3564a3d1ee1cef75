// The Node build (the `node` export condition): everything of the browser build plus file I/O.
// Bundlers for the web take `index.ts`, whose module graph imports no Node module.
export * from './index';
export type { CheckpointFile, RemovedTempFiles } from './files';
export { loadCheckpoint, readBytes, readCheckpoint, removeStaleTempFiles, saveCheckpoint, writeFileAtomic } from './files';
// Google's .npz releases are deflate ZIPs, read with Node's zlib: converting one is a Node job.
export { parseNpz } from './checkpoint/npz';

// The Node build (the `node` export condition): everything of the browser build plus file I/O.
// Bundlers for the web take `index.ts`, whose module graph imports no Node module.
export * from './index';
export type { CheckpointFile } from './files';
export { loadCheckpoint, readBytes, readCheckpoint, saveCheckpoint, writeFileAtomic } from './files';
// Google's .npz releases are deflate ZIPs, read with Node's zlib: converting one is a Node job.
export { parseNpz } from './checkpoint/npz';

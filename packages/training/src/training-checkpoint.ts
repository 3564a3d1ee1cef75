import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, parseSafetensors, serializeSafetensors, writeFileAtomic } from '@visual-peft/vit-core';
import { readBytes, readJson } from './read-files';
import type { TrainingCheckpoint } from './trainer-store';
import { CHECKPOINT_FILE, TRAINING_CHECKPOINT_FORMAT } from './trainer-store';

const TENSOR_FILE = /^checkpoint-[\w.-]+\.safetensors$/;

/**
 * Writes a checkpoint into `directory` so that a crash at any moment leaves the previous checkpoint
 * or the new one, never a mix: the tensors go to a new file `checkpoint-<tag>.safetensors`, then
 * `checkpoint.json`, which names that file, replaces the old one (both written atomically: write,
 * flush, rename), and only then are older tensor files removed. Returns the JSON file's path.
 */
export async function writeTrainingCheckpoint(directory: string, tag: string, checkpoint: TrainingCheckpoint): Promise<string> {
  const tensorFile = `checkpoint-${tag}.safetensors`;
  if (!TENSOR_FILE.test(tensorFile)) throw new FormatError(directory, `checkpoint tag ${JSON.stringify(tag)} must be letters, digits, '.', '_' or '-'`);
  await writeFileAtomic(join(directory, tensorFile), serializeSafetensors(new Map(checkpoint.tensors), { format: TRAINING_CHECKPOINT_FORMAT }));
  const path = join(directory, CHECKPOINT_FILE);
  const record = { format: TRAINING_CHECKPOINT_FORMAT, version: 1, tensors: tensorFile, ...checkpoint.record };
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
  for (const name of await readdir(directory)) {
    if (TENSOR_FILE.test(name) && name !== tensorFile) await rm(join(directory, name), { force: true });
  }
  return path;
}

/** The checkpoint in `directory`, or null when there is none. */
export async function readTrainingCheckpoint(directory: string): Promise<TrainingCheckpoint | null> {
  const path = join(directory, CHECKPOINT_FILE);
  try {
    await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FormatError(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const value = await readJson(path);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FormatError(path, 'must hold a JSON object');
  const { format, version, tensors: tensorFile, ...record } = value as Record<string, unknown>;
  if (format !== TRAINING_CHECKPOINT_FORMAT || version !== 1) {
    throw new FormatError(path, `is not a version-1 ${TRAINING_CHECKPOINT_FORMAT} (format ${JSON.stringify(format)}, version ${JSON.stringify(version)})`);
  }
  if (typeof tensorFile !== 'string' || !TENSOR_FILE.test(tensorFile)) {
    throw new FormatError(path, `must name its tensor file checkpoint-<tag>.safetensors, got ${JSON.stringify(tensorFile)}`);
  }
  const tensorPath = join(directory, tensorFile);
  const { tensors } = parseSafetensors(await readBytes(tensorPath), tensorPath);
  return { record, tensors };
}

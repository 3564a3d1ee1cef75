import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { StateDict } from './checkpoint/host-tensor';
import { convertGoogleVit } from './checkpoint/google-vit';
import { parseNpz } from './checkpoint/npz';
import { parseSafetensors, serializeSafetensors } from './checkpoint/safetensors';
import { checkFinite } from './checkpoint/finite';
import { FileSystemError, FileWriteError, FormatError } from './errors';
import type { LoadOptions, LoadReport } from './weights';
import { getStateDict, loadStateDict } from './weights';
import type { VisionTransformer } from './vision-transformer';

/** `writeFileAtomic`'s temporary names: `.<name>.<12 hex digits>.tmp`. */
const TEMPORARY_SUFFIX_BYTES = 6;
const TEMPORARY_NAME = new RegExp(`^\\..+\\.[0-9a-f]{${2 * TEMPORARY_SUFFIX_BYTES}}\\.tmp$`);

/**
 * Writes a file so that readers see either the old content or the whole new one, never a part:
 * write a temporary file beside it, flush it to disk, then rename it over the target. Missing
 * parent folders are created; a failure is a `FileWriteError` naming `path` (with the bytes it
 * needed when the disk is full).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomBytes(TEMPORARY_SUFFIX_BYTES).toString('hex')}.tmp`);
  try {
    await mkdir(directory, { recursive: true });
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    // The temporary file may not exist, nor its folder (a path under a file): the first error is the one to report.
    await rm(temporary, { force: true }).catch(() => {});
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    throw new FileWriteError(path, (error as NodeJS.ErrnoException).code ?? String(error), { cause: error, bytes });
  }
}

/** What `removeStaleTempFiles` removed. */
export interface RemovedTempFiles {
  readonly paths: readonly string[];
  readonly bytes: number;
}

/**
 * Removes the temporary files that `writeFileAtomic` calls killed between write and rename left in
 * `dir` and its subfolders (names `.<name>.<12 hex digits>.tmp` only; every other file stays;
 * symbolic links are not followed). A live write's temporary file matches the same pattern, so call
 * this only while no other process writes there (e.g. while holding the folder's lock). A missing
 * `dir` removes nothing.
 */
export async function removeStaleTempFiles(dir: string): Promise<RemovedTempFiles> {
  const paths: string[] = [];
  let bytes = 0;
  const sweep = async (folder: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw FileSystemError.from(error, folder, 'read') ?? error;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await sweep(path);
      else if (entry.isFile() && TEMPORARY_NAME.test(entry.name)) {
        try {
          bytes += (await stat(path)).size;
          await rm(path);
          paths.push(path);
        } catch (error) {
          throw FileSystemError.from(error, path, 'write') ?? error;
        }
      }
    }
  };
  await sweep(dir);
  return { paths, bytes };
}

/**
 * A file's bytes. A missing file is a `FormatError` ("no such file"); any other refusal (EACCES,
 * EISDIR, EIO, ...) a `FileSystemError` naming the file.
 */
export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FormatError(path, 'no such file');
    throw FileSystemError.from(error, path, 'read') ?? error;
  }
}

export interface CheckpointFile {
  /** Tensors in timm's names and layouts. */
  readonly stateDict: StateDict;
  /** safetensors `__metadata__` (empty for other formats). */
  readonly metadata: Record<string, string>;
}

/**
 * Reads a ViT checkpoint: `.safetensors` in timm's names, or Google's `.npz` release (converted to
 * timm's names and layouts). PyTorch pickles are refused with the conversion command to run, and
 * so is a tensor holding NaN or an infinity (`checkFinite`: its name and the first bad index).
 */
export async function readCheckpoint(path: string): Promise<CheckpointFile> {
  const extension = extname(path).toLowerCase();
  if (['.pth', '.pt', '.tar', '.bin', '.ckpt'].includes(extension)) {
    throw new FormatError(
      path,
      'PyTorch pickles are not read; convert it first: python3 tooling/reference/convert_torch_checkpoint.py --format {mae,moco-v3,timm} IN OUT.safetensors',
    );
  }
  const bytes = await readBytes(path);
  if (extension === '.safetensors') {
    const { tensors, metadata } = parseSafetensors(bytes, path);
    checkFinite(tensors, path);
    return { stateDict: tensors, metadata };
  }
  if (extension === '.npz') {
    const { stateDict, unknown } = convertGoogleVit(parseNpz(bytes, path), path);
    if (unknown.length > 0) throw new FormatError(path, `keys outside Google's ViT layout: ${unknown.join(', ')}`);
    checkFinite(stateDict, path);
    return { stateDict, metadata: {} };
  }
  throw new FormatError(path, `unknown checkpoint extension ${JSON.stringify(extension)}: expected .safetensors or .npz`);
}

/** Reads a checkpoint file and loads it into the model (see `loadStateDict` for the options). */
export async function loadCheckpoint(model: VisionTransformer, path: string, options: LoadOptions = {}): Promise<LoadReport> {
  const { stateDict } = await readCheckpoint(path);
  return loadStateDict(model, stateDict, { source: path, ...options });
}

/** Saves the model's weights as timm-named safetensors, atomically. */
export async function saveCheckpoint(model: VisionTransformer, path: string, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(getStateDict(model), { format: 'pt', ...metadata }));
}

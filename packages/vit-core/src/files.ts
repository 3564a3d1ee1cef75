import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
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

/**
 * Writes a file so that readers see either the old content or the whole new one, never a part:
 * write a temporary file beside it, flush it to disk, then rename it over the target. Missing
 * parent folders are created; a failure is a `FileWriteError` naming `path` (with the bytes it
 * needed when the disk is full).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
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

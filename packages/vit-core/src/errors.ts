/**
 * Typed errors. Every error names what was wrong (a field, a file, a key), the value found and the
 * rule it broke, so a user can fix the input without reading our code.
 */

/** Base class of every error this project throws on purpose. */
export class VisualPeftError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration field broke a rule: `numHeads must divide embedDim (768), got 7`. */
export class ConfigError extends VisualPeftError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`${field} ${rule}, got ${formatValue(value)}`);
  }
}

/** A file (or byte buffer standing for one) is not in the format it claims to be. */
export class FormatError extends VisualPeftError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/**
 * The backward pass met a tfjs kernel with no registered gradient. tfjs-core registers none by
 * itself: the full `@tensorflow/tfjs` package does on import, and so does `registerGradients()`
 * (which `new VisionTransformer(...)` calls).
 */
export class MissingGradientError extends VisualPeftError {
  constructor(
    readonly kernel: string,
    options?: ErrorOptions,
  ) {
    super(
      `no gradient is registered for the tfjs kernel ${kernel}: call registerGradients() from @visual-peft/vit-core or import @tensorflow/tfjs`,
      options,
    );
  }
}

const GRADIENT_NOT_FOUND = /gradient function not found for (\w+)/;

/** tfjs's "gradient function not found for X" as a `MissingGradientError` (the original as its cause); any other error as it is. */
export function asMissingGradient(error: unknown): unknown {
  if (error instanceof MissingGradientError || !(error instanceof Error)) return error;
  const match = GRADIENT_NOT_FOUND.exec(error.message);
  return match === null ? error : new MissingGradientError(match[1]!, { cause: error });
}

/** What a file operation was doing when the system refused it. */
export type FileAccess = 'read' | 'write' | 'open';

/** Per errno: what it means for the file, and what to do, for a read and for a write. */
const ERRNO_TEXT: Readonly<Record<string, { readonly what: string; readonly read: string; readonly write: string }>> = {
  EACCES: { what: 'permission denied', read: 'make it readable (chmod) or run as its owner', write: 'choose a folder you may write, or change its permissions' },
  EPERM: { what: 'operation not permitted', read: 'make it readable (chmod) or run as its owner', write: 'choose a folder you may write, or change its permissions' },
  EROFS: { what: 'read-only file system', read: 'check the path', write: 'write to a folder on a writable file system' },
  ENOTDIR: { what: 'a part of the path is a file, not a folder', read: 'give the path of a folder', write: 'choose a path whose parents are folders, or move the file away' },
  EEXIST: { what: 'a file is in the way of a folder', read: 'give the path of a folder', write: 'choose a path whose parents are folders, or move the file away' },
  EISDIR: { what: 'is a folder, not a file', read: 'give the path of a file', write: 'choose a file path, not a folder' },
  ENOENT: { what: 'no such file or folder', read: 'check the path', write: 'check the path' },
  ENOSPC: { what: 'no space left on the device', read: 'free some space', write: 'free some space or write to another disk' },
  EDQUOT: { what: 'disk quota exceeded', read: 'free some space', write: 'free some space or write to another disk' },
  EMFILE: { what: 'too many open files', read: 'raise the limit (ulimit -n)', write: 'raise the limit (ulimit -n)' },
  ENFILE: { what: 'too many open files in the system', read: 'close other programs or raise the limit', write: 'close other programs or raise the limit' },
  EIO: { what: 'input/output error', read: 'check the disk', write: 'check the disk' },
  ENAMETOOLONG: { what: 'the name is too long', read: 'use a shorter path', write: 'use a shorter path' },
  ELOOP: { what: 'too many symbolic links', read: 'check the links on the path', write: 'check the links on the path' },
  EBUSY: { what: 'busy', read: 'retry when nothing else uses it', write: 'retry when nothing else uses it' },
};

/**
 * The file system refused an operation (a Node errno: EACCES, EROFS, ENOTDIR, ENOSPC, ...): one
 * line `<path>: cannot be <read|written>: <what> (<errno>); <remedy>`. Built from the errno in one
 * place (`FileSystemError.from`), so every reader and writer reports it the same way.
 */
export class FileSystemError extends VisualPeftError {
  /** What to do about it, in a few words. */
  readonly remedy: string;

  constructor(
    readonly file: string,
    readonly code: string,
    readonly access: FileAccess,
    options?: ErrorOptions & { readonly bytes?: number },
  ) {
    const text = ERRNO_TEXT[code];
    const needed = options?.bytes === undefined ? '' : ` (${options.bytes} bytes to write)`;
    const what = `${text?.what ?? 'the system refused'}${code === 'ENOSPC' || code === 'EDQUOT' ? needed : ''}`;
    const remedy = text === undefined ? 'check the path and its permissions' : access === 'write' ? text.write : text.read;
    const verb = access === 'read' ? 'read' : access === 'write' ? 'written' : 'opened';
    super(`${file}: cannot be ${verb}: ${what} (${code}); ${remedy}`, options);
    this.remedy = remedy;
  }

  /**
   * A Node fs error as a `FileSystemError` naming `file` (default: the error's own path), or null
   * when `error` is not a system error. `access` defaults to what the failed system call does.
   */
  static from(error: unknown, file?: string, access?: FileAccess, bytes?: number): FileSystemError | null {
    if (error instanceof FileSystemError) return error;
    const { code, path, syscall } = (error ?? {}) as NodeJS.ErrnoException;
    if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return null;
    const target = file ?? path ?? 'a file';
    return new FileSystemError(target, code, access ?? accessOf(code, syscall), { cause: error, ...(bytes === undefined ? {} : { bytes }) });
  }
}

const WRITE_CALLS = new Set(['mkdir', 'rename', 'unlink', 'rmdir', 'rm', 'write', 'ftruncate', 'fsync', 'copyfile', 'symlink', 'link', 'chmod', 'utime', 'mkdtemp']);
const READ_CALLS = new Set(['read', 'readdir', 'scandir', 'opendir', 'stat', 'lstat', 'access', 'realpath', 'readlink']);

function accessOf(code: string, syscall: string | undefined): FileAccess {
  if (code === 'EROFS' || code === 'ENOSPC' || code === 'EDQUOT') return 'write';
  if (syscall !== undefined && WRITE_CALLS.has(syscall)) return 'write';
  if (syscall !== undefined && READ_CALLS.has(syscall)) return 'read';
  return 'open';
}

/** A file could not be written: names the file asked for (never a temporary one) and the system's reason. */
export class FileWriteError extends FileSystemError {
  /** The errno (kept under its old name). */
  readonly reason: string;

  constructor(file: string, reason: string, options?: ErrorOptions & { readonly bytes?: number }) {
    super(file, reason, 'write', options);
    this.reason = reason;
  }
}

/** One key of a checkpoint whose shape (or dtype, when given) does not fit the model. */
export interface ShapeMismatch {
  key: string;
  expected: readonly number[];
  found: readonly number[];
  /** Set when the dtype is what does not fit. */
  dtype?: { readonly expected: string; readonly found: string };
}

/** A checkpoint does not fit the model: lists every missing, unexpected and wrong-shaped key. */
export class CheckpointMismatchError extends VisualPeftError {
  constructor(
    readonly source: string,
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly mismatched: readonly ShapeMismatch[],
  ) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing keys: ${missing.join(', ')}`);
    if (unexpected.length > 0) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
    const shapes = mismatched.filter((m) => m.dtype === undefined);
    const dtypes = mismatched.filter((m) => m.dtype !== undefined);
    if (shapes.length > 0) {
      parts.push(`wrong shapes: ${shapes.map((m) => `${m.key} expected [${m.expected.join(', ')}] found [${m.found.join(', ')}]`).join('; ')}`);
    }
    if (dtypes.length > 0) parts.push(`wrong dtypes: ${dtypes.map((m) => `${m.key} expected ${m.dtype!.expected} found ${m.dtype!.found}`).join('; ')}`);
    super(`${source} does not fit the model: ${parts.join('; ')}`);
  }
}

/**
 * Checks named tensors against the names, shapes and dtypes expected of them (one check for every
 * method's and head's weights): throws one `CheckpointMismatchError` listing every missing,
 * unexpected and wrong-shaped key, so a caller can validate everything before writing anything.
 */
export function checkTensors(
  source: string,
  expected: ReadonlyMap<string, { readonly shape: readonly number[]; readonly dtype: string }>,
  given: ReadonlyMap<string, { readonly shape: readonly number[]; readonly dtype: string }>,
): void {
  const missing = [...expected.keys()].filter((key) => !given.has(key));
  const unexpected = [...given.keys()].filter((key) => !expected.has(key));
  const mismatched: ShapeMismatch[] = [];
  for (const [key, want] of expected) {
    const found = given.get(key);
    if (found === undefined) continue;
    if (found.shape.length !== want.shape.length || found.shape.some((size, axis) => size !== want.shape[axis])) {
      mismatched.push({ key, expected: want.shape, found: found.shape });
    } else if (found.dtype !== want.dtype) {
      mismatched.push({ key, expected: want.shape, found: found.shape, dtype: { expected: want.dtype, found: found.dtype } });
    }
  }
  if (missing.length + unexpected.length + mismatched.length > 0) {
    throw new CheckpointMismatchError(source, missing, unexpected, mismatched);
  }
}

/** Shapes or dtypes handed to a function do not fit each other. */
export class ShapeError extends VisualPeftError {}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

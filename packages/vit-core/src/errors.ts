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

/** A file could not be written: names the file asked for (never a temporary one) and the system's reason. */
export class FileWriteError extends VisualPeftError {
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: cannot be written (${reason})`, options);
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

import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, Diagnostic, ImageBatch, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, DIAGNOSTIC_KINDS, ShapeError, knownOptions } from '@visual-peft/vit-core';
import { checkBatch } from './batch-tensors';

/** The probe's `epoch` when diagnostics are collected before the first epoch, with the initial weights. */
export const INITIAL_DIAGNOSTICS_EPOCH = -1;

/** What each method reported after an epoch (or before the first), by method name (methods without `diagnostics` are absent). */
export type MethodDiagnostics = Readonly<Record<string, readonly Diagnostic[]>>;

/** The fixed data every method's `diagnostics(probe)` reads before the first epoch and after each. */
export interface DiagnosticsOptions {
  /**
   * A fixed batch of held-out images [B, C, H, W] at the model's input size, shown to the methods
   * before the first epoch and after every epoch. A tensor stays the caller's: keep it alive until `fit` returns.
   */
  readonly images: ImageBatch | tf.Tensor4D;
  /** The training split with labels through the evaluation pipeline (class-aware statistics). Default null. */
  readonly source?: BatchSource | null;
}

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** Checks the options (known keys, a source function or null) and refuses probe images that are not a [B, C, H, W] float32 batch of the model's input size. */
export function checkDiagnosticsOptions(model: VisionTransformer, options: DiagnosticsOptions): DiagnosticsOptions {
  const { images, source } = knownOptions('options.diagnostics', options, ['images', 'source']);
  if (source !== undefined && source !== null && typeof source !== 'function') throw new ConfigError('options.diagnostics.source', source, 'must be a BatchSource (a function of the epoch) or null');
  if (images === undefined) throw new ConfigError('options.diagnostics.images', images, 'is required: a fixed batch of held-out images');
  const shape = images instanceof tf.Tensor ? images.shape : (checkBatch(images), images.shape);
  if (images instanceof tf.Tensor && (images.rank !== 4 || images.dtype !== 'float32')) {
    throw new ShapeError(`diagnostics.images must be a float32 tensor [batch, channels, height, width], got ${images.dtype} [${shape.join(', ')}]`);
  }
  const { inChans, imgSize } = model.config;
  if (shape[1] !== inChans || shape[2] !== imgSize[0] || shape[3] !== imgSize[1]) {
    throw new ShapeError(`diagnostics.images must be [batch, ${inChans}, ${imgSize[0]}, ${imgSize[1]}] (the model's input), got [${shape.join(', ')}]`);
  }
  return { images, source: source ?? null };
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * One record as plain JSON (typed arrays become arrays), after checking it against the contract: a
 * known kind, a kebab-case name, a title, finite numbers, whole non-negative channel indices.
 */
function plainRecord(method: string, record: Diagnostic): Diagnostic {
  const fail = (rule: string, value: unknown): never => {
    throw new ConfigError(`${method} diagnostics`, value, rule);
  };
  if (!DIAGNOSTIC_KINDS.includes(record.kind)) fail(`kind must be one of ${DIAGNOSTIC_KINDS.join(', ')}`, record.kind);
  if (typeof record.name !== 'string' || !KEBAB.test(record.name)) fail('name must be kebab-case', record.name);
  if (typeof record.title !== 'string' || record.title.trim() === '') fail(`title of ${record.name} must be a non-empty line`, record.title);
  const numbers = (values: ArrayLike<number>, what: string, rule: (value: unknown) => boolean = finite): number[] => {
    const list = Array.from(values);
    const bad = list.findIndex((value) => !rule(value));
    if (bad >= 0) fail(`${what} of ${record.name} must hold ${rule === finite ? 'finite numbers' : 'channel indices >= 0'}`, list[bad]);
    return list;
  };
  switch (record.kind) {
    case 'scalar':
      if (!finite(record.value)) fail(`value of ${record.name} must be a finite number`, record.value);
      return { kind: 'scalar', name: record.name, title: record.title, value: record.value };
    case 'per-block':
      if (!Number.isInteger(record.firstBlock) || record.firstBlock < 0) fail(`firstBlock of ${record.name} must be a block index >= 0`, record.firstBlock);
      return { kind: 'per-block', name: record.name, title: record.title, firstBlock: record.firstBlock, values: numbers(record.values, 'values') };
    case 'channels': {
      const index = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;
      const selected = Array.from(record.selected, (block) => numbers(block, 'selected', index));
      const scores = record.scores === null ? null : Array.from(record.scores, (block) => numbers(block, 'scores'));
      return { kind: 'channels', name: record.name, title: record.title, selected, scores };
    }
  }
}

/**
 * Every method's `diagnostics(probe)` with the fixed probe data after `epoch` (0-based; -1,
 * `INITIAL_DIAGNOSTICS_EPOCH`, before the first), in evaluation mode and off any
 * gradient tape, as plain checked records by method name. Tensors a method leaves behind are freed
 * (the call runs in its own scope), so a run of many epochs holds nothing more than before.
 */
export async function collectDiagnostics(model: VisionTransformer, methods: readonly TuningMethod[], options: DiagnosticsOptions, epoch: number): Promise<MethodDiagnostics> {
  const reporting = methods.filter((method) => method.diagnostics !== undefined);
  const collected: Record<string, readonly Diagnostic[]> = {};
  if (reporting.length === 0) return collected;
  const given = options.images;
  const images = given instanceof tf.Tensor ? given : tf.tensor4d(given.images, [...given.shape]);
  try {
    for (const method of reporting) {
      // tf.tidy takes no async function: a scope of our own frees what the call leaves, across its awaits.
      tf.engine().startScope();
      let records: readonly Diagnostic[];
      try {
        records = await method.diagnostics!({ model, images, source: options.source ?? null, epoch });
      } finally {
        tf.engine().endScope();
      }
      if (!Array.isArray(records)) throw new ConfigError(`${method.name} diagnostics`, records, 'must return an array of records');
      const plain = records.map((record) => plainRecord(method.name, record));
      const names = plain.map((record) => record.name);
      const repeated = names.find((name, index) => names.indexOf(name) !== index);
      if (repeated !== undefined) throw new ConfigError(`${method.name} diagnostics`, repeated, 'names must be unique within the method');
      collected[method.name] = plain;
    }
  } finally {
    if (images !== given) images.dispose();
  }
  return collected;
}

import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from './errors';
import { tfjsSeed } from './random';
import type { HostTensor } from './checkpoint/host-tensor';
import { shapeSize } from './checkpoint/host-tensor';

/**
 * How a weight is stored inside the model relative to timm's layout. Linear weights are kept as
 * [in, out] (timm: [out, in]) and the patch projection as [C*p*p, D] (timm: [D, C, p, p]) so that
 * every forward product is a plain x·W; the transposes happen once, when weights are loaded or saved.
 */
export type ParameterLayout = 'identity' | 'linear' | 'patch-embed';

/** One named weight of the backbone, under its timm key. */
export interface Parameter {
  /** timm's key, e.g. `blocks.0.attn.qkv.weight`. */
  readonly key: string;
  /** The shape in timm's layout (what checkpoints hold). */
  readonly timmShape: readonly number[];
  readonly layout: ParameterLayout;
  readonly variable: tf.Variable;
}

export type Initializer =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'trunc-normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly limit: number };

export function internalShape(timmShape: readonly number[], layout: ParameterLayout): number[] {
  switch (layout) {
    case 'identity':
      return [...timmShape];
    case 'linear':
      return [timmShape[1]!, timmShape[0]!];
    case 'patch-embed':
      return [shapeSize(timmShape.slice(1)), timmShape[0]!];
  }
}

function transpose2d(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c]!;
  }
  return out;
}

/** timm layout -> the model's layout. A [D, C, p, p] kernel is a [D, C*p*p] matrix, transposed. */
export function toInternalLayout(values: Float32Array, timmShape: readonly number[], layout: ParameterLayout): Float32Array {
  if (layout === 'identity') return values;
  return transpose2d(values, timmShape[0]!, shapeSize(timmShape.slice(1)));
}

/** The model's layout -> timm layout (the inverse of `toInternalLayout`), always a fresh array. */
export function toTimmLayout(values: Float32Array, timmShape: readonly number[], layout: ParameterLayout): Float32Array {
  if (layout === 'identity') return values.slice();
  return transpose2d(values, shapeSize(timmShape.slice(1)), timmShape[0]!);
}

function initialValue(shape: number[], init: Initializer, seed: number): tf.Tensor {
  switch (init.kind) {
    case 'zeros':
      return tf.zeros(shape);
    case 'ones':
      return tf.ones(shape);
    case 'constant':
      return tf.fill(shape, init.value);
    case 'normal':
      return tf.randomNormal(shape, 0, init.std, 'float32', tfjsSeed(seed));
    case 'trunc-normal':
      // tfjs redraws beyond two standard deviations; timm's trunc_normal_(std=0.02) cuts at +-2 absolute,
      // which at std 0.02 truncates nothing. Only fresh weights differ; checkpoints overwrite them.
      return tf.truncatedNormal(shape, 0, init.std, 'float32', tfjsSeed(seed));
    case 'uniform':
      return tf.randomUniform(shape, -init.limit, init.limit, 'float32', tfjsSeed(seed));
  }
}

export function createParameter(
  key: string,
  timmShape: readonly number[],
  layout: ParameterLayout,
  init: Initializer,
  seed: number,
  trainable = false,
): Parameter {
  const variable = tf.tidy(() => tf.variable(initialValue(internalShape(timmShape, layout), init, seed), trainable));
  return { key, timmShape: [...timmShape], layout, variable };
}

/** Writes a timm-layout host tensor into a parameter, checking its shape. */
export function assignParameter(parameter: Parameter, host: HostTensor, source: string): void {
  if (host.dtype !== 'float32') {
    throw new ShapeError(`${source}: ${parameter.key} must be a floating-point tensor, got ${host.dtype}`);
  }
  if (!sameShape(host.shape, parameter.timmShape)) {
    throw new ShapeError(
      `${source}: ${parameter.key} expected shape [${parameter.timmShape.join(', ')}], got [${host.shape.join(', ')}]`,
    );
  }
  const values = toInternalLayout(host.data as Float32Array, parameter.timmShape, parameter.layout);
  tf.tidy(() => parameter.variable.assign(tf.tensor(values, parameter.variable.shape, 'float32')));
}

/** Reads a parameter back in timm's layout. */
export function readParameter(parameter: Parameter): HostTensor {
  const values = parameter.variable.dataSync() as Float32Array;
  return { dtype: 'float32', shape: [...parameter.timmShape], data: toTimmLayout(values, parameter.timmShape, parameter.layout) };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

import * as tf from '@tensorflow/tfjs-core';
import { FormatError } from '../errors';

/**
 * An array on the host (not yet a tf.Tensor): what checkpoint readers return and writers take.
 * Floating-point storage types (float16, bfloat16, float64) are widened or narrowed to float32 on
 * read, because every tfjs backend computes in float32; integer types become int32 when they fit.
 */
export type HostDType = 'float32' | 'int32' | 'uint8' | 'bool';

export type HostData = Float32Array | Int32Array | Uint8Array;

export interface HostTensor {
  readonly dtype: HostDType;
  readonly shape: readonly number[];
  readonly data: HostData;
  /**
   * The element type in the file it was read from ('float64', 'bfloat16', 'int64', ...), when that
   * differs from or matters beyond `dtype`: a caller that needs float32 input can refuse the rest.
   */
  readonly storedAs?: string;
}

/** A checkpoint's tensors by key, in file order. */
export type StateDict = Map<string, HostTensor>;

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function float32Tensor(shape: readonly number[], data: Float32Array): HostTensor {
  return { dtype: 'float32', shape: [...shape], data };
}

/** A copy of a tensor's values on the host, for safetensors. */
export function toHostTensor(tensor: tf.Tensor): HostTensor {
  const shape = [...tensor.shape];
  switch (tensor.dtype) {
    case 'float32':
      return { dtype: 'float32', shape, data: Float32Array.from(tensor.dataSync() as Float32Array) };
    case 'int32':
      return { dtype: 'int32', shape, data: Int32Array.from(tensor.dataSync() as Int32Array) };
    case 'bool':
      return { dtype: 'bool', shape, data: Uint8Array.from(tensor.dataSync() as Uint8Array) };
    default:
      throw new FormatError('tensor', `${tensor.dtype} tensors cannot be saved (float32, int32 and bool can)`);
  }
}

/** A tensor holding a host array (uint8 becomes int32, the closest tfjs type). */
export function fromHostTensor(host: HostTensor): tf.Tensor {
  const dtype = host.dtype === 'float32' || host.dtype === 'bool' ? host.dtype : 'int32';
  return tf.tensor(host.dtype === 'uint8' ? Int32Array.from(host.data) : host.data, [...host.shape], dtype);
}

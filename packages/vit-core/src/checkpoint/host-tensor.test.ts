import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { fromHostTensor, toHostTensor } from './host-tensor';

describe('toHostTensor / fromHostTensor', () => {
  it('copies float32, int32 and bool tensors to the host and back, and reads uint8 as int32', () => {
    const before = tf.memory().numTensors;
    const tensors = [tf.tensor2d([1.5, -2, 3, 0.25], [2, 2]), tf.tensor1d([7, -3, 9], 'int32'), tf.tensor([true, false, true], [3], 'bool')];
    for (const tensor of tensors) {
      const host = toHostTensor(tensor);
      expect(host.dtype).toBe(tensor.dtype);
      expect(host.shape).toEqual(tensor.shape);
      expect(host.data.buffer).not.toBe((tensor.dataSync() as Float32Array).buffer);
      const back = fromHostTensor(host);
      expect(back.dtype).toBe(tensor.dtype);
      expect(back.shape).toEqual(tensor.shape);
      expect(back.arraySync()).toEqual(tensor.arraySync());
      back.dispose();
    }
    const bytes = fromHostTensor({ dtype: 'uint8', shape: [2], data: new Uint8Array([3, 250]) });
    expect(bytes.dtype).toBe('int32');
    expect(bytes.arraySync()).toEqual([3, 250]);
    bytes.dispose();
    tf.dispose(tensors);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a dtype safetensors here cannot hold', () => {
    const complex = tf.complex([1], [2]);
    expect(() => toHostTensor(complex)).toThrow(FormatError);
    expect(() => toHostTensor(complex)).toThrow(/complex64 tensors cannot be saved \(float32, int32 and bool can\)/);
    complex.dispose();
  });
});

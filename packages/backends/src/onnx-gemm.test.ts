import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OnnxGemm, matMulModel } from './onnx-gemm';
import { resolveBackend } from './resolve-backend';
import type { WasmBackend } from './wasm-heap';
import type { Gemm } from './wasm-matmul';
import { byColumnBlocks, xnnpackProduct } from './wasm-matmul';

let fallback: Gemm;
let gemm: OnnxGemm | null = null;

beforeAll(async () => {
  await resolveBackend('wasm');
  fallback = byColumnBlocks(xnnpackProduct({ batchMatMul: tf.getKernel('BatchMatMul', 'wasm').kernelFunc, fusedMatMul: tf.getKernel('_FusedMatMul', 'wasm').kernelFunc }));
});

afterEach(async () => {
  await gemm?.close();
  gemm = null;
});

/** Runs a kernel-level product and returns its values, freeing its output. */
function values(product: (backend: WasmBackend) => TensorInfo): Float32Array {
  const backend = tf.backend() as unknown as WasmBackend & { readSync(dataId: object): Float32Array };
  const output = product(backend);
  const result = backend.readSync(output.dataId);
  backend.disposeData(output.dataId);
  return result;
}

/** Largest difference relative to the largest magnitude of `expected`. */
function relativeError(expected: Float32Array, actual: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let error = 0;
  expected.forEach((value, index) => {
    scale = Math.max(scale, Math.abs(value));
    error = Math.max(error, Math.abs(value - actual[index]!));
  });
  return error / scale;
}

// 2 * 301 * 257 * 129 flops: above the hand-over threshold, with odd sizes.
const a = () => tf.randomNormal([301, 257], 0, 1, 'float32', 21);
const b = () => tf.randomNormal([257, 129], 0, 1, 'float32', 22);

describe('matMulModel', () => {
  it('is a well-formed ONNX protobuf: ir_version 7, one MatMul node, opset 13', () => {
    const bytes = matMulModel();
    // Field 1 (ir_version) varint 7, then field 7 (graph) length-delimited.
    expect([...bytes.subarray(0, 3)]).toEqual([0x08, 0x07, 0x3a]);
    const text = new TextDecoder().decode(bytes);
    expect(text).toContain('MatMul');
    // Field 8 (opset_import) holding field 2 (version) = 13, at the end.
    expect([...bytes.subarray(-4)]).toEqual([0x42, 0x02, 0x10, 0x0d]);
  });
});

describe('OnnxGemm', () => {
  it('computes large products in onnxruntime as XNNPACK does, leaking nothing', async () => {
    gemm = await OnnxGemm.start(2);
    expect(gemm.packageVersion).toMatch(/^\d+\.\d+\.\d+/);
    const [left, right] = [a(), b()];
    const expected = values((backend) => fallback(backend, left, right, null));
    const dataIds = tf.backend().numDataIds();
    for (let repeat = 0; repeat < 3; repeat++) {
      // float32 sums of 257 terms in another order.
      expect(relativeError(expected, values((backend) => gemm!.multiply(backend, left, right, fallback)))).toBeLessThan(1e-5);
    }
    expect(gemm.products).toBe(3);
    expect(gemm.failure).toBeNull();
    expect(tf.backend().numDataIds()).toBe(dataIds);
    tf.dispose([left, right]);
  });

  it('keeps small products on the calling thread, bit for bit the fallback', async () => {
    gemm = await OnnxGemm.start(1);
    const [left, right] = [tf.randomNormal([40, 64]), tf.randomNormal([64, 48])];
    const expected = values((backend) => fallback(backend, left, right, null));
    expect(values((backend) => gemm!.multiply(backend, left, right, fallback))).toEqual(expected);
    expect(gemm.products).toBe(0);
    tf.dispose([left, right]);
  });

  const breakdowns: Array<[string, (gemm: OnnxGemm) => Promise<void>, string]> = [
    [
      'gives up on a worker that exits and computes every later product on the fallback',
      async (broken) => {
        const worker = (broken as unknown as { worker: Worker }).worker;
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        await worker.terminate();
        await exited;
      },
      'the onnxruntime worker exited',
    ],
    ['runs on the fallback once closed', (broken) => broken.close(), 'closed'],
  ];
  for (const [name, breakIt, failure] of breakdowns) {
    it(name, async () => {
      gemm = await OnnxGemm.start(1);
      await breakIt(gemm);
      expect(gemm.failure).toBe(failure);
      const [left, right] = [a(), b()];
      const expected = values((backend) => fallback(backend, left, right, null));
      expect(values((backend) => gemm!.multiply(backend, left, right, fallback))).toEqual(expected);
      expect(gemm.products).toBe(0);
      tf.dispose([left, right]);
    });
  }
});

import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, resolveBackend } from './resolve-backend';
import type { FastWasmKernelsOptions } from './wasm-kernels';
import { FAST_WASM_KERNELS, fastWasmKernelsInstalled, installFastWasmKernels, uninstallFastWasmKernels } from './wasm-kernels';

interface Result {
  readonly shape: number[];
  readonly values: Float32Array;
}

function evaluate(compute: () => tf.Tensor): Result {
  const tensor = compute();
  const result = { shape: tensor.shape, values: tensor.dataSync() as Float32Array };
  tensor.dispose();
  return result;
}

/**
 * `compute` three ways: the reference on the CPU backend (an independent implementation; `reference`
 * when the CPU kernel cannot compute `compute` itself), on wasm with its original kernels, and on
 * wasm with the fast ones (1 or more threads).
 */
async function threeWays(compute: () => tf.Tensor, install: FastWasmKernelsOptions, referenceCompute = compute): Promise<{ reference: Result; original: Result; fast: Result }> {
  expect(fastWasmKernelsInstalled()).toBe(false);
  await tf.setBackend('cpu');
  const reference = evaluate(referenceCompute);
  await tf.setBackend('wasm');
  const original = evaluate(compute);
  await installFastWasmKernels(install);
  try {
    return { reference, original, fast: evaluate(compute) };
  } finally {
    await uninstallFastWasmKernels();
  }
}

/** Largest difference from `expected`, relative to its largest magnitude; shapes must agree. */
function relativeError(expected: Result, actual: Result): number {
  expect(actual.shape).toEqual(expected.shape);
  let scale = 0;
  let error = 0;
  expected.values.forEach((value, index) => {
    scale = Math.max(scale, Math.abs(value));
    error = Math.max(error, Math.abs(value - actual.values[index]!));
  });
  return error / Math.max(scale, 1e-30);
}

/** float32 products of a few dozen terms, summed in a different order: about 1e-7 relative. */
const TOLERANCE = 1e-5;

/**
 * The fast kernels agree with the reference and, where the original kernel is right, with the
 * original. Where it is wrong (`originalWrong`, see the README), it must still be wrong: if a tfjs
 * release fixes it, this test says so and the README must change.
 */
async function expectFastMatches(
  compute: () => tf.Tensor,
  options: { originalWrong?: boolean; install?: FastWasmKernelsOptions; reference?: () => tf.Tensor } = {},
): Promise<void> {
  const { reference, original, fast } = await threeWays(compute, options.install ?? {}, options.reference);
  expect(relativeError(reference, fast)).toBeLessThan(TOLERANCE);
  const originalError = original.values.length === reference.values.length ? relativeError(reference, original) : Number.POSITIVE_INFINITY;
  if (options.originalWrong === true) expect(originalError).toBeGreaterThan(1e-2);
  else expect(relativeError(original, fast)).toBeLessThan(TOLERANCE);
}

let seed = 0;
const random = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', ++seed);

/** A's shape for op(A) of [m, k] (B's for op(B) of [k, n]) with the given batch axes. */
const operand = (batch: number[], rows: number, columns: number, transposed: boolean) => (transposed ? [...batch, columns, rows] : [...batch, rows, columns]);

const batchSize = (shape: readonly number[]) => shape.reduce((total, value) => total * value, 1);

/** Numpy broadcasting of two batch shapes (operands are valid here, so no check). */
function broadcastBatch(first: readonly number[], second: readonly number[]): number[] {
  const rank = Math.max(first.length, second.length);
  const pad = (shape: readonly number[]) => [...Array<number>(rank - shape.length).fill(1), ...shape];
  return pad(first).map((size, axis) => Math.max(size, pad(second)[axis]!));
}

/** Batch shapes of A and B: single, batched alike, broadcast either way, folded, rank 5. */
const BATCHES: ReadonlyArray<[number[], number[]]> = [
  [[], []],
  [[3], [3]],
  [[2, 3], []],
  [[2, 3], [1]],
  [[], [2]],
  [[1], [3]],
  [[3], [1]],
  [[2, 1], [1, 3]],
  [[2, 1, 2], [3, 1]],
];

/** [m, k, n]: odd sizes, and every axis of size 1. */
const SIZES: ReadonlyArray<[number, number, number]> = [
  [7, 5, 3],
  [1, 6, 4],
  [5, 1, 4],
  [5, 6, 1],
  [1, 1, 1],
  [33, 17, 65],
];

const TRANSPOSES: ReadonlyArray<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

beforeAll(async () => {
  await resolveBackend('cpu');
  await resolveBackend('wasm');
});

afterAll(async () => {
  await uninstallFastWasmKernels();
});

describe('installFastWasmKernels', () => {
  it('replaces BatchMatMul and _FusedMatMul and puts the very same originals back', async () => {
    const before = FAST_WASM_KERNELS.map((name) => tf.getKernel(name, 'wasm'));
    const installed = await installFastWasmKernels();
    expect(installed).toEqual({ kernels: ['BatchMatMul', '_FusedMatMul', 'Identity'], threads: 1, gemm: 'wasm', gemmFallback: null });
    expect(fastWasmKernelsInstalled()).toBe(true);
    FAST_WASM_KERNELS.forEach((name, index) => expect(tf.getKernel(name, 'wasm').kernelFunc).not.toBe(before[index]!.kernelFunc));
    await installFastWasmKernels();
    await uninstallFastWasmKernels();
    expect(fastWasmKernelsInstalled()).toBe(false);
    FAST_WASM_KERNELS.forEach((name, index) => expect(tf.getKernel(name, 'wasm')).toEqual(before[index]));
    await uninstallFastWasmKernels();
  });

  it('rejects a thread count that is not an integer from 1 to 64, naming the option', async () => {
    for (const threads of [0, 1.5, 65, Number.NaN]) {
      await expect(installFastWasmKernels({ threads })).rejects.toThrow(new RangeError(`threads must be an integer from 1 to 64, got ${JSON.stringify(threads)}`));
    }
    expect(fastWasmKernelsInstalled()).toBe(false);
  });

  it('refuses to install when the wasm backend has no kernels registered', async () => {
    const original = tf.getKernel('_FusedMatMul', 'wasm');
    tf.unregisterKernel('_FusedMatMul', 'wasm');
    try {
      const failure = installFastWasmKernels();
      await expect(failure).rejects.toThrow(BackendUnavailableError);
      await expect(installFastWasmKernels()).rejects.toThrow(/its kernel _FusedMatMul is not registered/);
      expect(fastWasmKernelsInstalled()).toBe(false);
    } finally {
      tf.registerKernel(original);
    }
  });
});

describe('fast BatchMatMul', () => {
  for (const [transposeA, transposeB] of TRANSPOSES) {
    for (const [batchA, batchB] of BATCHES) {
      it(`matches the original for transposeA=${transposeA} transposeB=${transposeB}, batch [${batchA}] x [${batchB}]`, async () => {
        // tfjs 4.22's wasm and CPU kernels size the result by the larger batch alone, so both are wrong
        // when each operand holds several matrices and they broadcast against each other. The reference
        // then broadcasts the operands first, which the CPU kernel does get right.
        const originalWrong = batchSize(batchA) > 1 && batchSize(batchB) > 1 && batchSize(batchA) !== batchSize(batchB);
        for (const [m, k, n] of SIZES) {
          const a = random(operand(batchA, m, k, transposeA));
          const b = random(operand(batchB, k, n, transposeB));
          const full = broadcastBatch(batchA, batchB);
          const reference = () => tf.matMul(tf.broadcastTo(a, [...full, ...a.shape.slice(-2)]), tf.broadcastTo(b, [...full, ...b.shape.slice(-2)]), transposeA, transposeB);
          await expectFastMatches(() => tf.matMul(a, b, transposeA, transposeB), { originalWrong, reference });
          tf.dispose([a, b]);
        }
      });
    }
  }

  it('leaves no tensor behind, in the engine or on the heap', async () => {
    const a = random([2, 3, 9, 7]);
    const b = random([3, 11, 7]);
    const w = random([7, 5]);
    await installFastWasmKernels();
    const product = () => tf.tidy(() => tf.add(tf.sum(tf.matMul(a, b, false, true)), tf.sum(tf.matMul(a, w))));
    product().dispose();
    const tensors = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    product().dispose();
    tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, b, false, true)))(a).dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(dataIds);
    await uninstallFastWasmKernels();
    tf.dispose([a, b, w]);
  });

  it('leaves what it does not handle to the original kernel: mismatched shapes, int32, empty tensors', async () => {
    await installFastWasmKernels();
    try {
      expect(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 5]))).toThrow(/inner shapes \(3\) and \(4\)/);
      expect(() => tf.matMul(tf.ones([2, 2, 3]), tf.ones([3, 3, 4]))).toThrow(/Operands could not be broadcast together/);
      expect(() => tf.matMul(tf.ones([2, 3], 'int32'), tf.ones([3, 4], 'int32'))).toThrow(/BatchMatMul for non non-float32 tensors not yet supported/);
      expect(tf.matMul(tf.ones([0, 3]), tf.ones([3, 4])).shape).toEqual([0, 4]);
    } finally {
      await uninstallFastWasmKernels();
    }
  });

  it('gives the gradients of an attention layer that the original kernels give', async () => {
    const tokens = random([2, 5, 8]);
    const weight = random([8, 24]);
    const attention = (x: tf.Tensor, w: tf.Tensor) => {
      const qkv = tf.reshape(tf.matMul(tf.reshape(x, [10, 8]), w), [2, 5, 3, 2, 4]);
      const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4])) as [tf.Tensor, tf.Tensor, tf.Tensor];
      return tf.sum(tf.square(tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), v)));
    };
    const gradients = () => tf.concat(tf.grads(attention)([tokens, weight]).map((gradient) => tf.reshape(gradient, [-1])));
    await expectFastMatches(gradients);
  });
});

describe('sharing Identity', () => {
  it('gives the values without copying them, outlives its input and frees the data with the last owner', async () => {
    await installFastWasmKernels();
    try {
      const dataIds = tf.backend().numDataIds();
      const x = tf.tensor2d([[1, 2], [3, 4]]);
      const copy = tf.clone(x);
      expect(tf.backend().numDataIds()).toBe(dataIds + 1);
      x.dispose();
      expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4]);
      copy.dispose();
      expect(tf.backend().numDataIds()).toBe(dataIds);
      const words = tf.clone(tf.tensor1d(['a', 'b'], 'string'));
      expect(words.arraySync()).toEqual(['a', 'b']);
      words.dispose();
    } finally {
      await uninstallFastWasmKernels();
    }
  });
});

describe('fast _FusedMatMul', () => {
  const ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;

  for (const activation of ACTIVATIONS) {
    it(`matches the original with a bias and ${activation}, for every transpose and batch`, async () => {
      for (const [transposeA, transposeB] of TRANSPOSES) {
        for (const [batchA, batchB] of [[[], []], [[3], [3]], [[2, 3], []], [[], [2]]] as Array<[number[], number[]]>) {
          const [m, k, n] = [7, 5, 6];
          const a = random(operand(batchA, m, k, transposeA));
          const b = random(operand(batchB, k, n, transposeB));
          const bias = random([n]);
          const slopes = activation === 'prelu' ? random([n]) : undefined;
          const compute = () => tf.fused.matMul({ a, b, transposeA, transposeB, bias, activation, preluActivationWeights: slopes, leakyreluAlpha: 0.3 });
          // Off its fast path, tfjs-backend-wasm 4.22 adds bias[n - 1] instead of bias[j] to every row after the first.
          const originalWrong = transposeA || transposeB || batchA.length > 0 || batchB.length > 0;
          await expectFastMatches(compute, { originalWrong });
          tf.dispose([a, b, bias, ...(slopes === undefined ? [] : [slopes])]);
        }
      }
    });
  }

  it('matches without a bias, with a single PReLU slope and with a single bias value', async () => {
    const a = random([3, 7, 5]);
    const b = random([5, 6]);
    await expectFastMatches(() => tf.fused.matMul({ a, b, activation: 'relu' }));
    await expectFastMatches(() => tf.tidy(() => tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: tf.scalar(0.25) })));
    // One bias value for every column: the original's fast path reads past it, the fast kernel repeats it.
    await expectFastMatches(() => tf.tidy(() => tf.fused.matMul({ a: tf.reshape(a, [21, 5]), b, bias: tf.tensor1d([0.5]) })), { originalWrong: true });
    tf.dispose([a, b]);
  });
});

/** Large products of every kind (batched, transposed, folded), and their engine and heap bookkeeping. */
async function expectLargeProductsMatch(install: FastWasmKernelsOptions): Promise<void> {
  const a = random([2, 300, 256]);
  const b = random([320, 256]);
  const c = random([300, 384]);
  const compute = () =>
    tf.tidy(() => tf.concat([tf.reshape(tf.matMul(a, b, false, true), [-1]), tf.reshape(tf.matMul(tf.reshape(a, [600, 256]), tf.reshape(tf.tile(c, [2, 1]), [600, 384]), true), [-1])]));
  await expectFastMatches(compute, { install });
  await installFastWasmKernels(install);
  compute().dispose();
  const tensors = tf.memory().numTensors;
  const dataIds = tf.backend().numDataIds();
  compute().dispose();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.backend().numDataIds()).toBe(dataIds);
  await uninstallFastWasmKernels();
  tf.dispose([a, b, c]);
}

describe('fast kernels with worker threads', () => {
  it('split large products across threads with the same results and no leaked tensor', async () => {
    await expectLargeProductsMatch({ threads: 2 });
  });
});

describe('fast kernels with onnxruntime', () => {
  it('compute large products in onnxruntime-node with the same results and no leaked tensor', async () => {
    await expectLargeProductsMatch({ threads: 2, gemm: 'onnxruntime' });
  });

  it("reports what computes the products: onnxruntime-node under 'auto' when it is installed", async () => {
    const installed = await installFastWasmKernels({ threads: 2, gemm: 'auto' });
    expect(installed).toMatchObject({ threads: 2, gemm: expect.stringMatching(/^onnxruntime-node \d+\.\d+\.\d+$/), gemmFallback: null });
    await uninstallFastWasmKernels();
  });

  it('rejects an unknown gemm, naming the option', async () => {
    await expect(installFastWasmKernels({ gemm: 'blas' as never })).rejects.toThrow(new RangeError(`gemm must be 'wasm', 'onnxruntime' or 'auto', got "blas"`));
    expect(fastWasmKernelsInstalled()).toBe(false);
  });
});

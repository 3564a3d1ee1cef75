import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-backend-wasm ran out of heap. Its module is 32-bit WebAssembly: the heap grows to 4 GiB at
 * most, and an allocation past that surfaces as WebAssembly's own "memory access out of bounds"
 * (measured with tfjs 4.22: four 1 GiB tensors fit, the fifth throws it). After it the backend's
 * state is undefined: the process should end.
 */
export class WasmHeapExhaustedError extends Error {
  constructor(
    /** Bytes of the wasm heap when it failed, or null when the backend does not say. */
    readonly heapBytes: number | null,
    /** Bytes held by tensors when it failed. */
    readonly tensorBytes: number,
    options: { cause: unknown },
  ) {
    const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
    super(
      `the wasm backend ran out of memory (its heap is 32-bit WebAssembly: 4 GiB at most; ${heapBytes === null ? '' : `heap ${gib(heapBytes)}, `}` +
        `tensors ${gib(tensorBytes)}): lower the batch size, train fewer weights (a method that keeps the backbone off the gradient tape, such as VQT or a linear probe), ` +
        'or install @tensorflow/tfjs-node, whose memory is not limited this way',
      options,
    );
    this.name = 'WasmHeapExhaustedError';
  }
}

/** WebAssembly's trap class, typed here without the DOM library. */
const wasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (message?: string) => Error } }).WebAssembly.RuntimeError;

/**
 * The wasm heap's current size in bytes, from the module's memory, or null when the active backend
 * is not wasm. A WebAssembly memory only grows, so this is also the heap's high-water mark.
 */
export function wasmHeapBytes(): number | null {
  try {
    const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
    return heap === undefined ? null : heap.byteLength;
  } catch {
    return null;
  }
}

/**
 * `error` as a WasmHeapExhaustedError when it is the wasm backend's out-of-heap failure (the active
 * backend is wasm and WebAssembly reported an out-of-bounds access), else null. For a command's or a
 * training loop's catch: the original error is kept as `cause`.
 */
export function asWasmHeapError(error: unknown): WasmHeapExhaustedError | null {
  if (error instanceof WasmHeapExhaustedError) return error;
  const isTrap = error instanceof wasmRuntimeError && /memory access out of bounds/.test(error.message);
  if (!isTrap || tf.getBackend() !== 'wasm') return null;
  return new WasmHeapExhaustedError(wasmHeapBytes(), tf.memory().numBytes, { cause: error });
}

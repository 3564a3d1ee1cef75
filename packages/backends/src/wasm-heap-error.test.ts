import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveBackend } from './resolve-backend';
import { WasmHeapExhaustedError, asWasmHeapError, wasmHeapBytes } from './wasm-heap-error';

/** The WebAssembly API, typed here without the DOM library. */
const wasm = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object) => { exports: Record<string, unknown> }; RuntimeError: new (message: string) => Error } })
  .WebAssembly;

/** WebAssembly's real out-of-bounds trap: a 4-byte load just past a one-page (64 KiB) memory. */
function outOfBoundsTrap(): unknown {
  // prettier-ignore
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
    0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x80, 0x80, 0x04, 0x28, 0x02, 0x00, 0x0b, // i32.load (i32.const 65536)
  ]);
  const instance = new wasm.Instance(new wasm.Module(bytes));
  try {
    (instance.exports.f as () => number)();
  } catch (error) {
    return error;
  }
  throw new Error('the load did not trap');
}

const initial = tf.getBackend();
afterAll(async () => {
  if (initial !== undefined) await tf.setBackend(initial);
});

describe('asWasmHeapError', () => {
  it('turns the wasm backend’s out-of-bounds trap into a typed error that says what to do, keeping the cause', async () => {
    await resolveBackend('wasm');
    const trap = outOfBoundsTrap();
    const error = asWasmHeapError(trap);
    expect(error).toBeInstanceOf(WasmHeapExhaustedError);
    expect(error!.cause).toBe(trap);
    expect(error!.heapBytes).toBeGreaterThan(0);
    expect(error!.message).toMatch(/^the wasm backend ran out of memory \(its heap is 32-bit WebAssembly: 4 GiB at most; heap \d+\.\d\d GiB, tensors \d+\.\d\d GiB\): lower the batch size/);
    expect(asWasmHeapError(error)).toBe(error);
  });

  it('leaves other errors, and the same trap under another backend, alone', async () => {
    await resolveBackend('wasm');
    expect(asWasmHeapError(new Error('memory access out of bounds'))).toBeNull();
    expect(asWasmHeapError(new wasm.RuntimeError('unreachable'))).toBeNull();
    await resolveBackend('cpu');
    expect(asWasmHeapError(outOfBoundsTrap())).toBeNull();
  });
});

describe('wasmHeapBytes', () => {
  it('gives the wasm heap’s size, which grows with an allocation past it and never shrinks; null off wasm', async () => {
    await resolveBackend('wasm');
    const start = wasmHeapBytes()!;
    // WebAssembly memory comes in 64 KiB pages.
    expect(start % 65_536).toBe(0);
    const big = tf.zeros([start / 4 + 1]);
    const grown = wasmHeapBytes()!;
    expect(grown).toBeGreaterThan(start);
    big.dispose();
    expect(wasmHeapBytes()).toBe(grown);
    await resolveBackend('cpu');
    expect(wasmHeapBytes()).toBeNull();
  });
});

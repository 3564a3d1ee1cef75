import { createRequire } from 'node:module';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { Gemm } from './wasm-matmul';
import type { WasmBackend } from './wasm-heap';
import { allocate, heapView, tensorInfo } from './wasm-heap';
import { whenReady } from './worker-ready';

/** The optional package whose native CPU kernels (MLAS: AVX2, AVX-512, every core) compute large products. */
export const ONNXRUNTIME_PACKAGE = 'onnxruntime-node';

/** One field of a protocol-buffers message: a number is a varint, a string or bytes or sub-message is length-delimited. */
type ProtoField = readonly [number, number | string | readonly ProtoField[]];

function varint(value: number, out: number[]): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function encodeMessage(fields: readonly ProtoField[], out: number[] = []): number[] {
  for (const [number, value] of fields) {
    if (typeof value === 'number') {
      varint(number << 3, out);
      varint(value, out);
      continue;
    }
    const body = typeof value === 'string' ? [...new TextEncoder().encode(value)] : encodeMessage(value);
    varint((number << 3) | 2, out);
    varint(body.length, out);
    out.push(...body);
  }
  return out;
}

/** A float tensor type with named dimensions (onnx.proto: TypeProto.tensor_type, elem_type 1 = FLOAT). */
const floatTensor = (name: string, dims: readonly string[]): ProtoField[] => [
  [1, name],
  [2, [[1, [[1, 1], [2, dims.map((dim): ProtoField => [1, [[2, dim]]])]]]]],
];

/**
 * The ONNX model `Y = MatMul(A, B)` with A [m, k], B [k, n] of any size (onnx.proto field numbers:
 * ModelProto ir_version 1, graph 7, opset_import 8; GraphProto node 1, name 2, input 11, output 12;
 * NodeProto input 1, output 2, op_type 4). Built here: a model file would be one more thing to ship.
 */
export function matMulModel(): Uint8Array {
  const graph: ProtoField[] = [
    [1, [[1, 'A'], [1, 'B'], [2, 'Y'], [4, 'MatMul']]],
    [2, 'matmul'],
    [11, floatTensor('A', ['m', 'k'])],
    [11, floatTensor('B', ['k', 'n'])],
    [12, floatTensor('Y', ['m', 'n'])],
  ];
  return Uint8Array.from(encodeMessage([[1, 7], [7, graph], [8, [[2, 13]]]]));
}

/** Slots of the shared control block. */
const SLOT = { GEN: 0, DONE: 1, STATUS: 2, M: 3, K: 4, N: 5, VERSION: 6, STOP: 7 } as const;
const STATUS = { OK: 1, FAILED: 2 } as const;
const CONTROL_SLOTS = 8;

/** Products below this many flops cost less on the calling thread than the copies and the hand-over (about 0.2 ms). */
const MIN_FLOPS = 2 ** 24;
/** A product the worker has not finished in this long is given up on; the calling thread computes it. */
const STALL_MS = 60_000;

interface WorkerData {
  readonly ortEntry: string;
  readonly model: Uint8Array;
  readonly threads: number;
  readonly control: SharedArrayBuffer;
  readonly port: MessagePort;
  readonly slot: typeof SLOT;
  readonly status: typeof STATUS;
}

/**
 * The body of the worker, run from its source text (it may use nothing but its arguments). It holds
 * one onnxruntime session of `matMulModel()` and computes each published product. onnxruntime only
 * takes arrays over ordinary buffers, so operands are copied out of the shared buffer and the result
 * back in. Its threads block while idle: spinning ones took the cores from the main thread.
 */
async function workerMain({ ortEntry, model, threads, control: controlBuffer, port, slot, status }: WorkerData, nodeRequire: NodeJS.Require): Promise<void> {
  const { parentPort, receiveMessageOnPort } = nodeRequire('node:worker_threads') as typeof import('node:worker_threads');
  const ort = nodeRequire(ortEntry) as {
    InferenceSession: { create(model: Uint8Array, options: object): Promise<{ run(feeds: object): Promise<Record<string, { data: Float32Array; dispose?(): void }>> }> };
    Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => object;
  };
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const control = new Int32Array(controlBuffer);
  let data: Float32Array<ArrayBufferLike> = new Float32Array(0);
  let version = 0;
  let seen = 0;
  parentPort!.postMessage('ready');
  for (;;) {
    Atomics.wait(control, slot.GEN, seen);
    if (Atomics.load(control, slot.STOP) !== 0) return;
    const generation = Atomics.load(control, slot.GEN);
    seen = generation;
    const wanted = Atomics.load(control, slot.VERSION);
    for (let message = receiveMessageOnPort(port); message !== undefined && version !== wanted; message = receiveMessageOnPort(port)) {
      ({ data, version } = message.message as { data: Float32Array; version: number });
    }
    const [m, k, n] = [slot.M, slot.K, slot.N].map((index) => Atomics.load(control, index)) as [number, number, number];
    let outcome: number = status.FAILED;
    try {
      if (version === wanted) {
        const outputs = await session.run({ A: new ort.Tensor('float32', data.slice(0, m * k), [m, k]), B: new ort.Tensor('float32', data.slice(m * k, m * k + k * n), [k, n]) });
        data.set(outputs.Y!.data, m * k + k * n);
        outputs.Y!.dispose?.();
        outcome = status.OK;
      }
    } catch {
      outcome = status.FAILED;
    }
    Atomics.store(control, slot.STATUS, outcome);
    Atomics.store(control, slot.DONE, generation);
    Atomics.notify(control, slot.DONE);
  }
}

const WORKER_SOURCE = `(${workerMain.toString()})(require('node:worker_threads').workerData, require);`;

/**
 * Large plain products on onnxruntime's native CPU kernels, from inside a synchronous tfjs kernel:
 * a worker thread owns the onnxruntime session (its `run` is asynchronous), operands travel through
 * a SharedArrayBuffer and the calling thread blocks on `Atomics.wait` until the worker is done.
 *
 * Robust like the worker pool: a product too small to repay the copies, and every product after the
 * worker failed, stalled or was closed, runs on `fallback`.
 */
export class OnnxGemm {
  private data: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private version = 0;
  private generation = 0;
  private brokenReason: string | null = null;
  /** Products computed by onnxruntime since the start. */
  products = 0;

  private constructor(
    private readonly control: Int32Array,
    private readonly worker: Worker,
    private readonly port: MessagePort,
    /** onnxruntime-node's version. */
    readonly packageVersion: string,
  ) {
    worker.on('error', (error) => (this.brokenReason ??= `the onnxruntime worker failed: ${error.message}`));
    worker.on('exit', () => (this.brokenReason ??= 'the onnxruntime worker exited'));
    worker.unref();
    port.unref();
  }

  /**
   * Starts the worker with an onnxruntime session on `threads` threads. Rejects when onnxruntime-node
   * is not installed (the message says so) or does not load.
   */
  static async start(threads: number, timeoutMs = 60_000): Promise<OnnxGemm> {
    const require = createRequire(import.meta.url);
    let ortEntry: string;
    try {
      ortEntry = require.resolve(ONNXRUNTIME_PACKAGE);
    } catch {
      throw new Error(`${ONNXRUNTIME_PACKAGE} is not installed`);
    }
    const version = (createRequire(ortEntry)(`${ONNXRUNTIME_PACKAGE}/package.json`) as { version: string }).version;
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
    const channel = new MessageChannel();
    const workerData: WorkerData = { ortEntry, model: matMulModel(), threads, control: control.buffer as SharedArrayBuffer, port: channel.port2, slot: SLOT, status: STATUS };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, transferList: [channel.port2] });
    try {
      await whenReady(worker, timeoutMs);
    } catch (error) {
      await worker.terminate();
      channel.port1.close();
      throw error;
    }
    return new OnnxGemm(control, worker, channel.port1, version);
  }

  /** Why products went back to `fallback` for good, or null while the worker is healthy. */
  get failure(): string | null {
    return this.brokenReason;
  }

  /** A plain product `a [m, k] x b [k, n]` without epilogue: onnxruntime when large, else `fallback`. */
  multiply(backend: WasmBackend, a: TensorInfo, b: TensorInfo, fallback: Gemm): TensorInfo {
    const [m, k] = a.shape as [number, number];
    const n = b.shape[1]!;
    if (this.brokenReason !== null || 2 * m * k * n < MIN_FLOPS) return fallback(backend, a, b, null);
    const data = this.reserve(m * k + k * n + m * n);
    data.set(heapView(backend, tensorInfo(a.dataId, [m * k])), 0);
    data.set(heapView(backend, tensorInfo(b.dataId, [k * n])), m * k);
    if (!this.run(m, k, n)) return fallback(backend, a, b, null);
    const output = allocate(backend, [m, n]);
    heapView(backend, output).set(data.subarray(m * k + k * n, m * k + k * n + m * n));
    this.products += 1;
    return output;
  }

  /** Stops the worker. Products afterwards run on the fallback. */
  async close(): Promise<void> {
    this.brokenReason ??= 'closed';
    Atomics.store(this.control, SLOT.STOP, 1);
    Atomics.notify(this.control, SLOT.GEN);
    await this.worker.terminate();
    this.port.close();
  }

  /** A shared buffer of at least `size` floats; a new one is sent to the worker before its first use. */
  private reserve(size: number): Float32Array<ArrayBufferLike> {
    if (this.data.length < size) {
      this.data = new Float32Array(new SharedArrayBuffer(Math.ceil(size * 1.25) * Float32Array.BYTES_PER_ELEMENT));
      this.version += 1;
      this.port.postMessage({ data: this.data, version: this.version });
    }
    return this.data;
  }

  /** Publishes one product and blocks until the worker is done; false (and the worker given up on) when it failed or stalled. */
  private run(m: number, k: number, n: number): boolean {
    const control = this.control;
    // Never 0, the worker's initial "seen" value.
    this.generation = (this.generation % 0x7fffffff) + 1;
    Atomics.store(control, SLOT.STATUS, 0);
    Atomics.store(control, SLOT.M, m);
    Atomics.store(control, SLOT.K, k);
    Atomics.store(control, SLOT.N, n);
    Atomics.store(control, SLOT.VERSION, this.version);
    Atomics.store(control, SLOT.GEN, this.generation);
    Atomics.notify(control, SLOT.GEN);
    const started = performance.now();
    while (Atomics.load(control, SLOT.DONE) !== this.generation) {
      if (this.brokenReason !== null) return false;
      if (performance.now() - started > STALL_MS) {
        this.brokenReason = `the onnxruntime worker made no progress for ${STALL_MS / 1000} s`;
        // It may still write into this buffer: the next product gets a new one.
        this.data = new Float32Array(0);
        return false;
      }
      Atomics.wait(control, SLOT.DONE, Atomics.load(control, SLOT.DONE), 1_000);
    }
    if (Atomics.load(control, SLOT.STATUS) !== STATUS.OK) {
      this.brokenReason = 'onnxruntime failed to compute a product';
      return false;
    }
    return true;
  }
}

import { createRequire } from 'node:module';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { COLUMN_BLOCK, columnBlocks, gatherColumns, scatterColumns } from './column-blocks';
import type { Gemm } from './wasm-matmul';
import type { WasmBackend } from './wasm-heap';
import { allocate, copyBlock, fromValues, heapView, release, tensorInfo, withTemporaries } from './wasm-heap';
import { whenReady } from './worker-ready';

/**
 * Slots of the shared control block. A job is published by writing its sizes, a fresh TICKET
 * (generation << 16 | next chunk) and then GEN; every thread claims chunks of rows by compare-and-swap
 * on TICKET, so a thread still holding an older generation can never claim a chunk of the new job.
 */
const SLOT = { GEN: 0, TICKET: 1, DONE: 2, TOTAL: 3, M: 4, K: 5, N: 6, ROWS: 7, BLOCK: 8, VERSION: 9, STOP: 10, STATE: 16 } as const;
/** Per-chunk outcome, in STATE + chunk. */
const CHUNK = { PENDING: 0, MAIN: 1, WORKER: 2, FAILED: 3 } as const;
const MAX_CHUNKS = 256;

/** Products below this many flops (about 2 ms on one core) are not worth handing out. */
const MIN_FLOPS = 2 ** 25;
const MIN_ROWS = 32;
/** Chunks per thread: small enough that a thread slowed by other processes costs little. */
const CHUNKS_PER_THREAD = 4;
/** A worker that makes no progress this long is given up on; the main thread finishes its chunks. */
const STALL_MS = 60_000;

/** Claims the next chunk of job `generation`, or -1 when none is left (or the job is no longer current). */
function claimChunk(control: Int32Array, ticketSlot: number, generation: number, total: number): number {
  for (;;) {
    const ticket = Atomics.load(control, ticketSlot);
    if (ticket >>> 16 !== generation || (ticket & 0xffff) >= total) return -1;
    if (Atomics.compareExchange(control, ticketSlot, ticket, ticket + 1) === ticket) return ticket & 0xffff;
  }
}

/** Layout of a job in the shared buffer: A [m, k] row-major, B in column blocks (each [k, width]), C [m, n] row-major. */
function offsets(m: number, k: number, n: number): { a: number; b: number; c: number; end: number } {
  return { a: 0, b: m * k, c: m * k + k * n, end: m * k + k * n + m * n };
}

interface WorkerData {
  readonly wasmEntry: string;
  readonly control: SharedArrayBuffer;
  readonly port: MessagePort;
  readonly slot: typeof SLOT;
  readonly chunk: typeof CHUNK;
}

/** Functions the worker gets as source text, with the names it calls them by. */
interface WorkerHelpers {
  readonly claimChunk: typeof claimChunk;
  readonly columnBlocks: typeof columnBlocks;
  readonly scatterColumns: typeof scatterColumns;
  readonly offsets: typeof offsets;
}

/**
 * The body of a worker, run from its source text, so it may use nothing but its arguments (bundlers
 * rewrite a bare `require`, hence `nodeRequire`): it loads its own tfjs-core and wasm backend, then
 * sleeps on the control block and computes the row chunks it claims with its own XNNPACK.
 */
async function workerMain(
  { wasmEntry, control: controlBuffer, port, slot, chunk: outcome }: WorkerData,
  nodeRequire: NodeJS.Require,
  helpers: WorkerHelpers,
): Promise<void> {
  const { parentPort, receiveMessageOnPort } = nodeRequire('node:worker_threads') as typeof import('node:worker_threads');
  const load = (nodeRequire('node:module') as typeof import('node:module')).createRequire(wasmEntry);
  const tf = load('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core');
  load(wasmEntry);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise in the worker');
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
    if (version !== wanted) continue;
    const [m, k, n, rows, block, total] = [slot.M, slot.K, slot.N, slot.ROWS, slot.BLOCK, slot.TOTAL].map((index) => Atomics.load(control, index)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const at = helpers.offsets(m, k, n);
    const blocks = helpers.columnBlocks(n, block);
    const weights: Array<import('@tensorflow/tfjs-core').Tensor2D | undefined> = [];
    for (let index = helpers.claimChunk(control, slot.TICKET, generation, total); index >= 0; index = helpers.claimChunk(control, slot.TICKET, generation, total)) {
      try {
        const first = index * rows;
        const count = Math.min(m, first + rows) - first;
        const a = tf.tensor2d(data.subarray(at.a + first * k, at.a + (first + count) * k), [count, k]);
        blocks.forEach(([start, end], blockIndex) => {
          weights[blockIndex] ??= tf.tensor2d(data.subarray(at.b + k * start, at.b + k * end), [k, end - start]);
          const c = tf.matMul(a, weights[blockIndex]!);
          helpers.scatterColumns(c.dataSync() as Float32Array, count, end - start, data as Float32Array, at.c + first * n, n, start);
          c.dispose();
        });
        a.dispose();
        Atomics.store(control, slot.STATE + index, outcome.WORKER);
      } catch {
        Atomics.store(control, slot.STATE + index, outcome.FAILED);
      }
      Atomics.add(control, slot.DONE, 1);
      Atomics.notify(control, slot.DONE);
    }
    tf.dispose(weights.filter((weight) => weight !== undefined));
  }
}

const WORKER_SOURCE = `(${workerMain.toString()})(require('node:worker_threads').workerData, require, {
  claimChunk: ${claimChunk.toString()},
  columnBlocks: ${columnBlocks.toString()},
  scatterColumns: ${scatterColumns.toString()},
  offsets: ${offsets.toString()},
});`;

/**
 * Worker threads that share large plain products with the main thread. Each worker runs its own
 * copy of the wasm backend (a wasm module's memory cannot be shared unless it was built for threads),
 * so operands travel through a SharedArrayBuffer: the main thread copies A and B in, every thread
 * claims chunks of A's rows, and the workers' rows are copied back. While workers finish, the main
 * thread blocks on `Atomics.wait`: a kernel must return synchronously.
 *
 * Robust by construction: a chunk no worker claimed is computed by the main thread, a worker that
 * fails or stalls is given up on (its chunks are recomputed, its buffer abandoned) and from then on
 * every product runs on the main thread.
 */
export class GemmPool {
  private data: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private version = 0;
  private generation = 0;
  private brokenReason: string | null = null;
  /** Chunks computed by workers since the pool started. */
  workerChunks = 0;

  private constructor(
    private readonly control: Int32Array,
    private readonly workers: readonly Worker[],
    private readonly ports: readonly MessagePort[],
  ) {
    for (const worker of workers) {
      worker.on('error', (error) => (this.brokenReason ??= `a worker failed: ${error.message}`));
      worker.on('exit', () => (this.brokenReason ??= 'a worker exited'));
      worker.unref();
    }
    ports.forEach((port) => port.unref());
  }

  /** Starts `threads - 1` workers, each with its own wasm backend, and waits until all are ready. */
  static async start(threads: number, timeoutMs = 60_000): Promise<GemmPool> {
    const wasmEntry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    const control = new Int32Array(new SharedArrayBuffer((SLOT.STATE + MAX_CHUNKS) * Int32Array.BYTES_PER_ELEMENT));
    const channels = Array.from({ length: threads - 1 }, () => new MessageChannel());
    const workers = channels.map((channel) => {
      const workerData: WorkerData = { wasmEntry, control: control.buffer as SharedArrayBuffer, port: channel.port2, slot: SLOT, chunk: CHUNK };
      return new Worker(WORKER_SOURCE, { eval: true, workerData, transferList: [channel.port2] });
    });
    try {
      await Promise.all(workers.map((worker) => whenReady(worker, timeoutMs)));
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      channels.forEach((channel) => channel.port1.close());
      throw error;
    }
    return new GemmPool(control, workers, channels.map((channel) => channel.port1));
  }

  /** Threads that compute products: the workers and the main thread. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Why the pool fell back to the main thread for good, or null while all workers are healthy. */
  get failure(): string | null {
    return this.brokenReason;
  }

  /**
   * a [m, k] times b [k, n] into a new [m, n] tensor, split by rows across the threads and taken
   * COLUMN_BLOCK columns at a time, each piece by `plain`. Products too small to repay the copies,
   * and every product once the pool is broken, run on `single`.
   */
  multiply(backend: WasmBackend, a: TensorInfo, b: TensorInfo, plain: Gemm, single: Gemm): TensorInfo {
    const [m, k] = a.shape as [number, number];
    const n = b.shape[1]!;
    if (this.brokenReason !== null || 2 * m * k * n < MIN_FLOPS || m < 2 * MIN_ROWS) return single(backend, a, b, null);
    const rows = Math.max(MIN_ROWS, Math.ceil(m / Math.min(MAX_CHUNKS, this.threads * CHUNKS_PER_THREAD)));
    const total = Math.ceil(m / rows);
    const blocks = columnBlocks(n, COLUMN_BLOCK);
    const at = offsets(m, k, n);
    const data = this.reserve(at.end);
    data.set(heapView(backend, tensorInfo(a.dataId, [m * k])), at.a);
    const bValues = heapView(backend, tensorInfo(b.dataId, [k * n]));
    for (const [first, last] of blocks) gatherColumns(bValues, k, n, first, last, data as Float32Array, at.b + k * first);
    const generation = this.publish({ m, k, n, rows, total });
    const output = allocate(backend, [m, n]);
    try {
      withTemporaries(backend, (keep) => {
        // This thread's copies of B's blocks, made on first use (b itself when there is one block).
        const weights: TensorInfo[] = [];
        const weight = (index: number) => {
          const [first, last] = blocks[index]!;
          weights[index] ??= blocks.length === 1 ? b : keep(fromValues(backend, data.subarray(at.b + k * first, at.b + k * last) as Float32Array, [k, last - first]));
          return weights[index]!;
        };
        const computeHere = (index: number) => {
          const first = index * rows;
          const count = Math.min(m, first + rows) - first;
          withTemporaries(backend, (keepPart) => {
            const part = keepPart(copyBlock(backend, a, first * k, [count, k]));
            blocks.forEach(([start, end], blockIndex) => {
              const result = keepPart(plain(backend, part, weight(blockIndex), null));
              scatterColumns(heapView(backend, result), count, end - start, heapView(backend, output), first * n, n, start);
            });
          });
        };
        for (let index = claimChunk(this.control, SLOT.TICKET, generation, total); index >= 0; index = claimChunk(this.control, SLOT.TICKET, generation, total)) {
          computeHere(index);
          Atomics.store(this.control, SLOT.STATE + index, CHUNK.MAIN);
          Atomics.add(this.control, SLOT.DONE, 1);
        }
        this.awaitChunks(total);
        for (let index = 0; index < total; index++) {
          const state = Atomics.load(this.control, SLOT.STATE + index);
          const first = index * rows;
          const last = Math.min(m, first + rows);
          if (state === CHUNK.WORKER) {
            heapView(backend, output).set(data.subarray(at.c + first * n, at.c + last * n), first * n);
            this.workerChunks += 1;
          } else if (state !== CHUNK.MAIN) computeHere(index);
        }
      });
    } catch (error) {
      release(backend, output);
      throw error;
    }
    return output;
  }

  /** Stops the workers. The pool must not be used afterwards. */
  async close(): Promise<void> {
    this.brokenReason ??= 'closed';
    Atomics.store(this.control, SLOT.STOP, 1);
    Atomics.notify(this.control, SLOT.GEN);
    await Promise.all(this.workers.map((worker) => worker.terminate()));
    this.ports.forEach((port) => port.close());
  }

  /** A shared buffer of at least `size` floats; a new one is sent to every worker before its first use. */
  private reserve(size: number): Float32Array<ArrayBufferLike> {
    if (this.data.length < size) {
      this.data = new Float32Array(new SharedArrayBuffer(Math.ceil(size * 1.25) * Float32Array.BYTES_PER_ELEMENT));
      this.version += 1;
      for (const port of this.ports) port.postMessage({ data: this.data, version: this.version });
    }
    return this.data;
  }

  /** Writes a job into the control block and wakes the workers; returns its generation. */
  private publish(job: { m: number; k: number; n: number; rows: number; total: number }): number {
    const control = this.control;
    // 15 bits, never 0: the ticket stays a positive int32 and differs from the previous job's.
    this.generation = (this.generation % 0x7fff) + 1;
    control.fill(CHUNK.PENDING, SLOT.STATE, SLOT.STATE + job.total);
    Atomics.store(control, SLOT.TICKET, this.generation << 16);
    Atomics.store(control, SLOT.M, job.m);
    Atomics.store(control, SLOT.K, job.k);
    Atomics.store(control, SLOT.N, job.n);
    Atomics.store(control, SLOT.ROWS, job.rows);
    Atomics.store(control, SLOT.BLOCK, COLUMN_BLOCK);
    Atomics.store(control, SLOT.TOTAL, job.total);
    Atomics.store(control, SLOT.DONE, 0);
    Atomics.store(control, SLOT.VERSION, this.version);
    Atomics.store(control, SLOT.GEN, this.generation);
    Atomics.notify(control, SLOT.GEN);
    return this.generation;
  }

  /**
   * Blocks until every chunk is done. A worker that makes no progress for STALL_MS is given up on:
   * its buffer is abandoned (it may still write into it) and the pool stays on the main thread.
   */
  private awaitChunks(total: number): void {
    let done = Atomics.load(this.control, SLOT.DONE);
    let progressAt = performance.now();
    while (done < total) {
      Atomics.wait(this.control, SLOT.DONE, done, 1_000);
      const now = Atomics.load(this.control, SLOT.DONE);
      if (now !== done) {
        done = now;
        progressAt = performance.now();
      } else if (performance.now() - progressAt > STALL_MS) {
        this.brokenReason ??= `a worker made no progress for ${STALL_MS / 1000} s`;
        this.data = new Float32Array(0);
        return;
      }
    }
    for (let index = 0; index < total; index++) {
      if (Atomics.load(this.control, SLOT.STATE + index) === CHUNK.FAILED) this.brokenReason ??= 'a worker failed to compute its rows';
    }
  }
}

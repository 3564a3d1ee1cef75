import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { BackendUnavailableError } from './resolve-backend';
import { GemmPool } from './gemm-pool';
import { ONNXRUNTIME_PACKAGE, OnnxGemm } from './onnx-gemm';
import type { WasmBackend } from './wasm-heap';
import type { Gemm } from './wasm-matmul';
import { byColumnBlocks, createMatMulKernels, xnnpackProduct } from './wasm-matmul';

/** The kernels replaced, by tfjs kernel name. */
export const FAST_WASM_KERNELS: readonly string[] = ['BatchMatMul', '_FusedMatMul', 'Identity'];

export interface FastWasmKernelsOptions {
  /**
   * Threads that compute large matrix products: the main thread plus `threads - 1` worker threads,
   * each running its own copy of the wasm backend. Default 1 (the main thread only).
   * `os.availableParallelism()` uses every core.
   */
  readonly threads?: number;
  /**
   * What computes large plain products. 'wasm' (default): XNNPACK in wasm, on `threads` threads.
   * 'onnxruntime': the native CPU kernels of the optional package onnxruntime-node (AVX2 / AVX-512,
   * `threads` threads), 3-7 times faster on the products; an error when it is not installed.
   * 'auto': onnxruntime when it is installed and starts, else wasm (the reason is returned).
   */
  readonly gemm?: 'wasm' | 'onnxruntime' | 'auto';
}

export interface FastWasmKernels {
  /** The tfjs kernels now replaced on the wasm backend. */
  readonly kernels: readonly string[];
  /** Threads computing large products. */
  readonly threads: number;
  /** What computes large products: 'wasm', or 'onnxruntime-node <version>'. */
  readonly gemm: string;
  /** Why 'auto' did not use onnxruntime, else null. */
  readonly gemmFallback: string | null;
}

interface Installation {
  readonly originals: readonly KernelConfig[];
  readonly pool: GemmPool | OnnxGemm | null;
}

/** Starts onnxruntime for 'onnxruntime' (failing loudly) and 'auto' (falling back with the reason). */
async function startOnnx(choice: 'onnxruntime' | 'auto', threads: number): Promise<{ onnx: OnnxGemm | null; reason: string | null }> {
  try {
    return { onnx: await OnnxGemm.start(threads), reason: null };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0]!;
    if (choice === 'auto') return { onnx: null, reason };
    throw new BackendUnavailableError('wasm', [{ package: ONNXRUNTIME_PACKAGE, backend: 'wasm', failure: `gemm 'onnxruntime' asked for, but ${reason}` }]);
  }
}

/** More would not fit the pool's chunk table, and no machine this targets has them. */
const MAX_THREADS = 64;

// On globalThis, like tfjs's own kernel registry: an ESM and a CJS copy of this package in one
// process must see one installation, or the second would take the first's kernels for the originals.
const STATE = Symbol.for('@visual-peft/backends/fast-wasm-kernels');
const registry = globalThis as { [STATE]?: Installation };

function originalKernel(name: string): KernelConfig {
  const config = tf.getKernel(name, 'wasm');
  if (config === undefined) {
    throw new BackendUnavailableError('wasm', [
      {
        package: '@tensorflow/tfjs-backend-wasm',
        backend: 'wasm',
        failure: `its kernel ${name} is not registered: import the package (or call resolveBackend('wasm')) before installing the fast kernels`,
      },
    ]);
  }
  return config;
}

/**
 * Identity that shares the input's data instead of copying it, as the CPU backend's does: tensors
 * are immutable. The engine runs Identity on every tensor it saves for the backward pass, so on
 * wasm the original copied each saved activation once more.
 */
function sharingIdentity(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original(args);
    (args.backend as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

function replaceKernel(config: KernelConfig): void {
  tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

/**
 * Replaces the wasm backend's matrix-product kernels (BatchMatMul, _FusedMatMul) with ones that run
 * every product on XNNPACK's fast path, and its Identity with one that does not copy. tfjs-backend-wasm 4.x takes that path only for a plain,
 * unbatched, untransposed product and computes every other one (each gradient of a matmul, a batch
 * of attention products, a 3-D input times a weight) in a scalar loop 10-20 times slower. The new
 * kernels materialise transposed operands, fold a batch into rows when B has one matrix, and split
 * a batched product into plain ones; what they do not handle (non-float32, empty or ill-shaped
 * inputs, a bias or PReLU slope that is not one per column) goes to the original kernel unchanged.
 * With `threads` above 1, large plain products are also split across worker threads.
 *
 * Works before or after the wasm backend is initialised; nothing happens on import. Installing
 * again replaces the previous installation. `uninstallFastWasmKernels()` puts the originals back.
 */
export async function installFastWasmKernels(options: FastWasmKernelsOptions = {}): Promise<FastWasmKernels> {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new RangeError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${JSON.stringify(threads)}`);
  }
  const choice = options.gemm ?? 'wasm';
  if (!['wasm', 'onnxruntime', 'auto'].includes(choice)) throw new RangeError(`gemm must be 'wasm', 'onnxruntime' or 'auto', got ${JSON.stringify(choice)}`);
  await uninstallFastWasmKernels();
  const originals = FAST_WASM_KERNELS.map(originalKernel);
  const { onnx, reason } = choice === 'wasm' ? { onnx: null, reason: null } : await startOnnx(choice, threads);
  const pool = onnx === null && threads > 1 ? await GemmPool.start(threads) : null;
  const [batchMatMul, fusedMatMul, identity] = originals as [KernelConfig, KernelConfig, KernelConfig];
  const kernels = { batchMatMul: batchMatMul.kernelFunc, fusedMatMul: fusedMatMul.kernelFunc };
  const plain = xnnpackProduct(kernels);
  const blocked = byColumnBlocks(plain);
  const large = (backend: WasmBackend, a: TensorInfo, b: TensorInfo) =>
    onnx !== null ? onnx.multiply(backend, a, b, blocked) : pool !== null ? pool.multiply(backend, a, b, plain, blocked) : blocked(backend, a, b, null);
  // Products with a fused bias or activation stay in wasm, where the epilogue is applied.
  const gemm: Gemm = (backend, a, b, epilogue) => (epilogue === null ? large(backend, a, b) : blocked(backend, a, b, epilogue));
  const fast = createMatMulKernels(kernels, gemm);
  // The originals' set-up (binding their wasm functions) still runs when the backend initialises.
  replaceKernel({ ...batchMatMul, kernelFunc: fast.batchMatMul });
  replaceKernel({ ...fusedMatMul, kernelFunc: fast.fusedMatMul });
  replaceKernel({ ...identity, kernelFunc: sharingIdentity(identity.kernelFunc) });
  registry[STATE] = { originals, pool: onnx ?? pool };
  return { kernels: FAST_WASM_KERNELS, threads, gemm: onnx === null ? 'wasm' : `${ONNXRUNTIME_PACKAGE} ${onnx.packageVersion}`, gemmFallback: reason };
}

/** Puts the wasm backend's original kernels back and stops any worker threads. A no-op when not installed. */
export async function uninstallFastWasmKernels(): Promise<void> {
  const installation = registry[STATE];
  if (installation === undefined) return;
  installation.originals.forEach(replaceKernel);
  registry[STATE] = undefined;
  await installation.pool?.close();
}

/** Whether `installFastWasmKernels()` is in effect. */
export function fastWasmKernelsInstalled(): boolean {
  return registry[STATE] !== undefined;
}

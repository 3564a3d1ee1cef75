import { availableParallelism } from 'node:os';
import type { BackendInfo, BackendPreference } from '@visual-peft/backends';
import { BackendUnavailableError, installFastWasmKernels, resolveBackend } from '@visual-peft/backends';
import { UsageError } from './errors';
import type { Io } from './io';

/**
 * Activates the backend for a command and says which one on stderr. Backend packages are imported
 * from the app's own location, so a tfjs-node(-gpu) added to the app is found. On wasm the fast
 * matrix kernels of @visual-peft/backends are installed, on every core, with onnxruntime-node's
 * native products when it is installed (it is a dependency of the app): README, "Speed".
 */
export async function activateBackend(preference: BackendPreference, io: Io): Promise<BackendInfo> {
  const info = await resolveBackend(preference, { importModule: (specifier) => import(specifier) });
  const fast = info.backend === 'wasm' ? await installFastWasmKernels({ threads: availableParallelism(), gemm: 'auto' }) : null;
  const products = fast?.gemm === 'wasm' ? '' : ` (large products on ${fast?.gemm})`;
  const kernels = fast === null ? '' : `, fast wasm kernels on ${fast.threads} thread${fast.threads === 1 ? '' : 's'}${products}`;
  io.stderr(`backend: ${info.backend} (${info.package} ${info.packageVersion}, ${info.device}${kernels}; tfjs-core ${info.tfjsCoreVersion})`);
  return info;
}

/**
 * The backend of semantic segmentation: SETR-PUP's 3x3 convolutions need Conv2DBackpropFilter,
 * which tfjs-backend-wasm does not have, so 'auto' means tfjs-node(-gpu), else cpu, and wasm is refused.
 */
export async function activateSegmentationBackend(preference: BackendPreference, io: Io): Promise<BackendInfo> {
  if (preference === 'wasm') {
    throw new UsageError('--backend wasm cannot train SETR-PUP: tfjs-backend-wasm has no Conv2DBackpropFilter for its 3x3 convolutions; use tensorflow (tfjs-node or tfjs-node-gpu) or cpu');
  }
  if (preference !== 'auto') return activateBackend(preference, io);
  try {
    return await activateBackend('tensorflow', io);
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error;
    return activateBackend('cpu', io);
  }
}

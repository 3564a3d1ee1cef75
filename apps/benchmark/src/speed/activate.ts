import type { BackendInfo, BackendPreference } from '@visual-peft/backends';
import { installFastWasmKernels, resolveBackend, uninstallFastWasmKernels } from '@visual-peft/backends';
import type { Io } from '../io';
import type { Plan, TfjsBackendId } from './plan';
import { FAST_IDS } from './plan';

/** Activates a tfjs backend variant; null when it is not installed (the reason goes to stderr). */
export async function activateVariant(id: TfjsBackendId, plan: Plan, io: Io): Promise<{ label: string; detail: string } | null> {
  await uninstallFastWasmKernels();
  let info: BackendInfo;
  try {
    info = await resolveBackend(FAST_IDS.has(id) ? 'wasm' : (id as BackendPreference), { importModule: (specifier) => import(specifier) });
  } catch (error) {
    io.stderr(`${id}: not available: ${(error as Error).message}`);
    return null;
  }
  const detail = `${info.package} ${info.packageVersion}, ${info.device}`;
  if (id === 'wasm-onnx') {
    try {
      const { threads, gemm } = await installFastWasmKernels({ threads: plan.threads, gemm: 'onnxruntime' });
      return { label: `wasm fast + onnxruntime, ${threads} thread${threads === 1 ? '' : 's'}`, detail: `${detail}, with installFastWasmKernels({ threads: ${threads}, gemm: 'onnxruntime' }): ${gemm}` };
    } catch (error) {
      io.stderr(`${id}: not available: ${(error as Error).message}`);
      return null;
    }
  }
  if (id === 'wasm-fast' || id === 'wasm-fast-mt') {
    const { threads } = await installFastWasmKernels({ threads: id === 'wasm-fast' ? 1 : plan.threads });
    const label = `wasm fast, ${threads} thread${threads === 1 ? '' : 's'}`;
    return { label, detail: `${detail}, with installFastWasmKernels({ threads: ${threads} })` };
  }
  return { label: id === 'wasm' ? 'wasm stock' : id === 'cpu' ? 'cpu' : 'tfjs-node', detail };
}

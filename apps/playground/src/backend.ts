import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { ConfigError } from '@visual-peft/vit-core';
import type { BackendName } from './backend-names';
import { BACKEND_ORDER } from './backend-names';

export { BACKEND_ORDER, type BackendName } from './backend-names';

export interface BackendChoice {
  readonly name: BackendName;
  /** Why each faster backend was passed over. */
  readonly skipped: readonly string[];
  /** What runs it, where the browser says (the WebGL renderer, the WebGPU adapter). */
  readonly device: string;
}

function describeDevice(name: BackendName): string {
  if (name === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    return gl === null || gl === undefined ? 'WebGL' : String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  }
  if (name === 'webgpu') {
    const adapter = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string; isFallbackAdapter?: boolean } }).adapterInfo;
    if (adapter === undefined) return 'WebGPU';
    return `WebGPU ${adapter.vendor ?? ''} ${adapter.architecture ?? ''}${adapter.isFallbackAdapter === true ? ' (fallback adapter)' : ''}`.replace(/ +/g, ' ').trim();
  }
  if (name === 'wasm') return 'WebAssembly';
  return 'JavaScript';
}

/** A GPU that the browser emulates on the CPU (SwiftShader, Mesa's llvmpipe, a WebGPU fallback adapter). */
const SOFTWARE_GPU = /swiftshader|llvmpipe|softpipe|software|fallback/i;

/**
 * Activates the first backend of BACKEND_ORDER that initialises here (or only `only`, a `?backend=`
 * choice). tfjs's own `setBackend` tries each, so a browser without WebGPU or WebGL falls through.
 * A GPU emulated on the CPU is passed over unless asked for: in headless chromium on a machine
 * without a GPU (SwiftShader), 5 training steps of the demo took 68 s on webgpu and 17 s on webgl
 * against 1.1 s on wasm (the app's `bench` command, 2 shared cores).
 */
export async function activateFastestBackend(only?: string): Promise<BackendChoice> {
  if (only !== undefined && !(BACKEND_ORDER as readonly string[]).includes(only)) throw new ConfigError('backend', only, `must be one of ${BACKEND_ORDER.join(', ')}`);
  setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded });
  const skipped: string[] = [];
  for (const name of only === undefined ? BACKEND_ORDER : [only as BackendName]) {
    if (name === 'webgpu' && !('gpu' in navigator)) {
      skipped.push('webgpu: navigator.gpu is absent');
      continue;
    }
    let ready = false;
    try {
      ready = await tf.setBackend(name);
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
      continue;
    }
    if (!ready) {
      skipped.push(`${name}: did not initialise (no adapter or context)`);
      continue;
    }
    await tf.ready();
    const device = describeDevice(name);
    if (only === undefined && (name === 'webgpu' || name === 'webgl') && SOFTWARE_GPU.test(device)) {
      skipped.push(`${name}: ${device} emulates the GPU on the CPU, slower than wasm`);
      continue;
    }
    return { name, skipped, device };
  }
  throw new ConfigError('backend', only ?? BACKEND_ORDER.join(', '), `none initialised: ${skipped.join('; ')}`);
}

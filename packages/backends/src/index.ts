export type { BackendAttempt, BackendInfo, BackendName, BackendPreference, ImportModule, ResolveBackendOptions } from './resolve-backend';
export { BACKEND_PREFERENCES, BackendUnavailableError, registerGradients, resolveBackend } from './resolve-backend';
export type { FastWasmKernels, FastWasmKernelsOptions } from './wasm-kernels';
export { FAST_WASM_KERNELS, fastWasmKernelsInstalled, installFastWasmKernels, uninstallFastWasmKernels } from './wasm-kernels';
export { WasmHeapExhaustedError, asWasmHeapError, wasmHeapBytes } from './wasm-heap-error';

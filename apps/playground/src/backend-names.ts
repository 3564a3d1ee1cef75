/**
 * The tfjs backends the page can run on, fastest first: WebGPU where the browser offers an
 * adapter, else WebGL, else wasm, else plain JS. A module of its own (no tfjs import) so that Node
 * scripts driving the page (its browser test, its benchmark) read the same names.
 */
export const BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients as registerCoreGradients } from '@visual-peft/vit-core';

/** The TensorFlow.js backends this project knows how to load in Node. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** A backend to use, or 'auto': the fastest one installed. */
export type BackendPreference = BackendName | 'auto';

export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/**
 * Packages that provide each backend, fastest first. tfjs-node-gpu and tfjs-node both register the
 * backend 'tensorflow' (libtensorflow, with CUDA for the -gpu package). Nothing here is a dependency:
 * their installers download libtensorflow, so a user installs the one that fits their machine.
 */
const CANDIDATES: Readonly<Record<BackendName, readonly string[]>> = {
  tensorflow: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
  wasm: ['@tensorflow/tfjs-backend-wasm'],
  cpu: ['@tensorflow/tfjs-backend-cpu'],
};

const AUTO_ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** One package tried while resolving, and why it was not used. */
export interface BackendAttempt {
  readonly package: string;
  readonly backend: BackendName;
  /** Null when this attempt gave the backend in use. */
  readonly failure: string | null;
}

export interface BackendInfo {
  readonly backend: BackendName;
  /** The npm package that provided it. */
  readonly package: string;
  readonly packageVersion: string;
  readonly tfjsCoreVersion: string;
  /** What runs the kernels: 'GPU (CUDA)', 'CPU (libtensorflow)', 'CPU (WebAssembly, SIMD)'... */
  readonly device: string;
  /** Every package tried, in order, with the reason each earlier one failed. */
  readonly attempts: readonly BackendAttempt[];
}

/** No backend of the kind asked for could be loaded; `attempts` says why for each package. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly preference: BackendPreference,
    readonly attempts: readonly BackendAttempt[],
  ) {
    super(
      `backend ${JSON.stringify(preference)} is not available: ${attempts
        .map((attempt) => `${attempt.package}: ${attempt.failure ?? 'loaded'}`)
        .join('; ')}`,
    );
    this.name = 'BackendUnavailableError';
  }
}

const require = createRequire(import.meta.url);

/** The package's version: from its package.json, else from the `version` map tfjs packages export. */
function installedVersion(packageName: string, loaded: unknown): string {
  try {
    return (require(`${packageName}/package.json`) as { version: string }).version;
  } catch {
    const versions = (loaded as { version?: Record<string, string> } | null)?.version;
    return versions?.[packageName.replace('@tensorflow/', '')] ?? versions?.['tfjs-node'] ?? 'unknown';
  }
}

function describeFailure(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return 'not installed';
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.slice(0, 300);
}

async function describeDevice(backend: BackendName): Promise<string> {
  if (backend === 'tensorflow') {
    // tfjs-node's backend exposes whether libtensorflow placed ops on a CUDA device.
    const usingGpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
    return usingGpu ? 'GPU (CUDA)' : 'CPU (libtensorflow)';
  }
  if (backend === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return `CPU (WebAssembly${simd === true ? ', SIMD' : ''})`;
  }
  return 'CPU (JavaScript)';
}

/** Loads a module by name, resolved from the caller's location (its node_modules). */
export type ImportModule = (specifier: string) => Promise<unknown>;

export interface ResolveBackendOptions {
  /**
   * How to import the backend packages. Pass `(name) => import(name)` from your own code so that a
   * tfjs-node installed in your project is found even where this package cannot see it (pnpm's
   * strict node_modules). Default: import from this package's location.
   */
  readonly importModule?: ImportModule;
}

/** Imports a backend package and activates its backend; the failure reason, or the loaded module. */
async function tryPackage(
  packageName: string,
  backend: BackendName,
  importModule: ImportModule,
): Promise<{ failure: string } | { module: unknown }> {
  let module: unknown;
  try {
    module = await importModule(packageName);
  } catch (error) {
    return { failure: describeFailure(error) };
  }
  try {
    if (!(await tf.setBackend(backend))) return { failure: `registered backend ${JSON.stringify(backend)} failed to initialise` };
    await tf.ready();
    return { module };
  } catch (error) {
    return { failure: describeFailure(error) };
  }
}

/**
 * Loads and activates a backend: the one asked for, or with 'auto' the fastest installed
 * (tfjs-node-gpu, tfjs-node, wasm, cpu). Throws `BackendUnavailableError` listing every package
 * tried when none loads. Gradients are registered too (see `registerGradients`).
 */
export async function resolveBackend(preference: BackendPreference = 'auto', options: ResolveBackendOptions = {}): Promise<BackendInfo> {
  const importModule = options.importModule ?? ((specifier: string) => import(specifier));
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new TypeError(`backend must be one of ${BACKEND_PREFERENCES.join(', ')}, got ${JSON.stringify(preference)}`);
  }
  registerCoreGradients();
  const attempts: BackendAttempt[] = [];
  for (const backend of preference === 'auto' ? AUTO_ORDER : [preference]) {
    for (const packageName of CANDIDATES[backend]) {
      const result = await tryPackage(packageName, backend, importModule);
      attempts.push({ package: packageName, backend, failure: 'failure' in result ? result.failure : null });
      if ('module' in result) {
        return {
          backend,
          package: packageName,
          packageVersion: installedVersion(packageName, result.module),
          tfjsCoreVersion: tf.version_core,
          device: await describeDevice(backend),
          attempts,
        };
      }
    }
  }
  throw new BackendUnavailableError(preference, attempts);
}

/**
 * Registers tfjs-core's gradient for every kernel that has none yet.
 * @deprecated Call `registerGradients()` from `@visual-peft/vit-core` (synchronous; `new
 * VisionTransformer(...)` already calls it). This wrapper delegates to it and goes in the next release.
 */
export async function registerGradients(): Promise<void> {
  registerCoreGradients();
}

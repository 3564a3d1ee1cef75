import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendAttempt, BackendInfo, BackendName, ImportModule } from '@visual-peft/backends';
import { BackendUnavailableError, installFastWasmKernels, resolveBackend, uninstallFastWasmKernels } from '@visual-peft/backends';
import { parseCommandArgs } from '../args';
import type { SystemProbe } from '../doctor/system-probe';
import { findCudaLibraries, queryGpus, systemProbe } from '../doctor/system-probe';
import { visualPeftVersions } from '../environment';
import type { Io } from '../io';

export const DOCTOR_USAGE = 'doctor   (the backends that load here and why others do not, the GPU, CUDA libraries, versions, CPU)';

export interface DoctorDependencies {
  readonly importModule: ImportModule;
  readonly probe: SystemProbe;
}

const DEFAULT_DEPENDENCIES: DoctorDependencies = { importModule: (specifier) => import(specifier), probe: systemProbe };

/** Each backend in `auto`'s order, and what loading it gave. */
const BACKEND_ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

interface BackendProbe {
  readonly backend: BackendName;
  readonly info: BackendInfo | null;
  readonly attempts: readonly BackendAttempt[];
}

async function probeBackend(backend: BackendName, importModule: ImportModule): Promise<BackendProbe> {
  try {
    const info = await resolveBackend(backend, { importModule });
    return { backend, info, attempts: info.attempts };
  } catch (error) {
    if (error instanceof BackendUnavailableError) return { backend, info: null, attempts: error.attempts };
    throw error;
  }
}

/**
 * The fast wasm kernels install and give the right answer on a product they take over (B
 * transposed), checked against a plain JavaScript product; uninstalled afterwards.
 */
async function checkFastWasmKernels(importModule: ImportModule): Promise<{ available: boolean; detail: string }> {
  const threads = availableParallelism();
  try {
    await resolveBackend('wasm', { importModule });
    await installFastWasmKernels({ threads });
    const rows = 3;
    const inner = 4;
    const columns = 5;
    const a = Array.from({ length: rows * inner }, (_, index) => ((index * 7) % 11) - 5);
    const b = Array.from({ length: columns * inner }, (_, index) => ((index * 5) % 13) - 6);
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [rows, inner]), tf.tensor2d(b, [columns, inner]), false, true).dataSync());
    let worst = 0;
    for (let row = 0; row < rows; row += 1) {
      for (let column = 0; column < columns; column += 1) {
        let expected = 0;
        for (let k = 0; k < inner; k += 1) expected += a[row * inner + k]! * b[column * inner + k]!;
        worst = Math.max(worst, Math.abs(product[row * columns + column]! - expected));
      }
    }
    if (worst > 1e-4) return { available: false, detail: `installed, but a transposed product is off by ${worst}` };
    return { available: true, detail: `installed on ${threads} thread${threads === 1 ? '' : 's'}; a transposed product matches a plain JavaScript one` };
  } catch (error) {
    return { available: false, detail: (error instanceof Error ? error.message : String(error)).split('\n')[0]! };
  } finally {
    await uninstallFastWasmKernels();
  }
}

/** The libtensorflow files tfjs-node-gpu's installer put in its deps/lib, or null when it is not installed. */
function libtensorflowFiles(): string[] | null {
  try {
    const packageJson = createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu/package.json');
    return readdirSync(join(dirname(packageJson), 'deps', 'lib')).filter((name) => name.startsWith('libtensorflow'));
  } catch {
    return null;
  }
}

/** `label:` and its value in a column wide enough for the longest package name. */
const line = (label: string, value: string) => `${`${label}:`.padEnd(33)}${value}`;

/**
 * Prints what this machine can run: every backend package tried (loaded, or why not), the GPU and
 * CUDA libraries tfjs-node-gpu needs, whether the fast wasm kernels work, and the versions of Node,
 * tfjs-core and the project's packages; the last stdout line is the same as one JSON object. Fails
 * (exit 1) only when no backend loads at all.
 */
export async function doctor(args: readonly string[], io: Io, dependencies: DoctorDependencies = DEFAULT_DEPENDENCIES): Promise<void> {
  parseCommandArgs('doctor', args, {});
  const backends: BackendProbe[] = [];
  for (const backend of BACKEND_ORDER) backends.push(await probeBackend(backend, dependencies.importModule));
  const loaded = backends.filter((probe) => probe.info !== null);

  io.stdout('Backends, in the order --backend auto tries them:');
  for (const probe of backends) {
    for (const attempt of probe.attempts) {
      const info = attempt.failure === null ? probe.info! : null;
      io.stdout(`  ${attempt.package.padEnd(32)}${info === null ? `does not load: ${attempt.failure}` : `loads (${info.packageVersion}): ${info.device}`}`);
    }
  }
  io.stdout(line('auto picks', loaded.length === 0 ? 'nothing' : `${loaded[0]!.backend} (${loaded[0]!.info!.package})`));

  // The GPU: what the driver reports, the CUDA libraries libtensorflow opens, and tfjs-node-gpu itself.
  const gpuQuery = await queryGpus(dependencies.probe);
  const cuda = await findCudaLibraries(dependencies.probe);
  const missing = cuda.libraries.filter((library) => library.path === null).map((library) => library.library);
  const gpuAttempt = backends[0]!.attempts.find((attempt) => attempt.package === '@tensorflow/tfjs-node-gpu');
  const gpuInfo = gpuAttempt?.failure === null ? backends[0]!.info : null;
  const libtensorflow = libtensorflowFiles();
  const reasons: string[] = [];
  if ('failure' in gpuQuery) reasons.push(`nvidia-smi: ${gpuQuery.failure}`);
  if (missing.length > 0) reasons.push(`missing CUDA libraries: ${missing.join(', ')}`);
  if (gpuAttempt !== undefined && gpuAttempt.failure !== null) reasons.push(`@tensorflow/tfjs-node-gpu: ${gpuAttempt.failure}`);
  if (gpuInfo !== null && gpuInfo.device !== 'GPU (CUDA)') reasons.push('libtensorflow loaded but placed no op on a CUDA device');
  const gpuInUse = gpuInfo?.device === 'GPU (CUDA)';

  io.stdout('GPU (tfjs-node-gpu needs CUDA 11.2 and cuDNN 8.1 on Linux x86-64):');
  io.stdout(`  ${line('nvidia-smi', 'gpus' in gpuQuery ? gpuQuery.gpus.join('; ') : gpuQuery.failure)}`);
  for (const library of cuda.libraries) io.stdout(`  ${line(library.library, library.path ?? 'missing')}`);
  io.stdout(`  ${line('searched', cuda.searched.join(', ') || 'nothing (no ldconfig, no LD_LIBRARY_PATH)')}`);
  io.stdout(`  ${line('libtensorflow', libtensorflow === null ? 'tfjs-node-gpu not installed' : libtensorflow.join(', ') || 'none in tfjs-node-gpu/deps/lib')}`);
  io.stdout(`  ${line('verdict', gpuInUse ? `GPU in use${'gpus' in gpuQuery ? `: ${gpuQuery.gpus[0]}` : ''}` : `no GPU in use: ${reasons.join('; ')}`)}`);

  const fastKernels = loaded.some((probe) => probe.backend === 'wasm') ? await checkFastWasmKernels(dependencies.importModule) : { available: false, detail: 'the wasm backend does not load' };
  const cpu = cpus()[0]?.model.trim() ?? 'unknown';
  const cores = availableParallelism();
  const packages = visualPeftVersions();
  io.stdout(line('fast wasm kernels', `${fastKernels.available ? 'available' : 'not available'}: ${fastKernels.detail}`));
  io.stdout(line('node', `${process.version} (${process.platform} ${process.arch})`));
  io.stdout(line('tfjs-core', tf.version_core));
  for (const [name, version] of Object.entries(packages)) io.stdout(line(name, version));
  io.stdout(line('cpu', `${cpu}, ${cores} core${cores === 1 ? '' : 's'}`));

  io.stdout(
    JSON.stringify({
      backends: backends.flatMap((probe) =>
        probe.attempts.map((attempt) => ({
          package: attempt.package,
          backend: attempt.backend,
          loads: attempt.failure === null,
          version: attempt.failure === null ? probe.info!.packageVersion : null,
          device: attempt.failure === null ? probe.info!.device : null,
          failure: attempt.failure,
        })),
      ),
      auto: loaded[0]?.backend ?? null,
      gpu: { inUse: gpuInUse, nvidiaSmi: gpuQuery, cudaLibraries: cuda.libraries, searched: cuda.searched, libtensorflow, reasons: gpuInUse ? [] : reasons },
      fastWasmKernels: fastKernels,
      node: process.version,
      tfjsCore: tf.version_core,
      packages,
      cpu: { model: cpu, cores },
    }),
  );
  if (loaded.length === 0) throw new BackendUnavailableError('auto', backends.flatMap((probe) => probe.attempts));
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type CommandResult = { readonly ok: true; readonly stdout: string } | { readonly ok: false; readonly failure: string };

/** What `doctor` asks of the machine; tests pass their own. */
export interface SystemProbe {
  run(command: string, args: readonly string[]): Promise<CommandResult>;
  exists(path: string): boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const systemProbe: SystemProbe = {
  run: (command, args) =>
    new Promise((resolve) => {
      execFile(command, [...args], { timeout: 15_000, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error === null) resolve({ ok: true, stdout });
        else if ((error as NodeJS.ErrnoException).code === 'ENOENT') resolve({ ok: false, failure: 'not found' });
        else resolve({ ok: false, failure: (stderr.trim() || stdout.trim() || error.message).split('\n')[0]!.slice(0, 300) });
      });
    }),
  exists: existsSync,
  env: process.env,
};

/**
 * The shared libraries libtensorflow's GPU build opens at start-up: CUDA 11.2's runtime and maths
 * libraries and cuDNN 8 (tfjs-node-gpu 4.x; their sonames stay the same across CUDA 11.x). A missing
 * one makes libtensorflow fall back to the CPU with only a log line.
 */
export const CUDA_LIBRARIES: readonly string[] = [
  'libcudart.so.11.0',
  'libcublas.so.11',
  'libcublasLt.so.11',
  'libcufft.so.10',
  'libcurand.so.10',
  'libcusolver.so.11',
  'libcusparse.so.11',
  'libcudnn.so.8',
];

export interface LibraryLocation {
  readonly library: string;
  /** Where the dynamic loader would find it, or null. */
  readonly path: string | null;
}

/** Folders the dynamic loader searches besides its cache: LD_LIBRARY_PATH, then CUDA's usual homes. */
export function librarySearchDirectories(env: SystemProbe['env']): string[] {
  const fromEnv = (env.LD_LIBRARY_PATH ?? '').split(':').filter((entry) => entry !== '');
  const cudaHomes = [env.CUDA_HOME, env.CUDA_PATH, '/usr/local/cuda'].filter((entry): entry is string => entry !== undefined && entry !== '');
  return [...new Set([...fromEnv, ...cudaHomes.flatMap((home) => [join(home, 'lib64'), join(home, 'targets/x86_64-linux/lib')])])];
}

/** `ldconfig -p` lines as soname -> path (the first entry of each soname, as the loader takes it). */
export function parseLdconfigCache(output: string): Map<string, string> {
  const cache = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
    if (match !== null && !cache.has(match[1]!)) cache.set(match[1]!, match[3]!);
  }
  return cache;
}

/** Where each CUDA library libtensorflow needs is, searched as the dynamic loader would. */
export async function findCudaLibraries(probe: SystemProbe): Promise<{ libraries: LibraryLocation[]; searched: string[] }> {
  let cache = new Map<string, string>();
  const searched: string[] = [];
  // ldconfig lives in /sbin, often outside a user's PATH.
  for (const command of ['ldconfig', '/sbin/ldconfig']) {
    const result = await probe.run(command, ['-p']);
    if (result.ok) {
      cache = parseLdconfigCache(result.stdout);
      searched.push('the ldconfig cache');
      break;
    }
  }
  const directories = librarySearchDirectories(probe.env);
  searched.push(...directories);
  const libraries = CUDA_LIBRARIES.map((library) => ({
    library,
    path: directories.map((directory) => join(directory, library)).find((path) => probe.exists(path)) ?? cache.get(library) ?? null,
  }));
  return { libraries, searched };
}

export type GpuQuery = { readonly gpus: readonly string[] } | { readonly failure: string };

/** The GPUs and driver nvidia-smi reports, one line per GPU, or why it could not say. */
export async function queryGpus(probe: SystemProbe): Promise<GpuQuery> {
  const result = await probe.run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']);
  if (!result.ok) return { failure: result.failure };
  const gpus = result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return gpus.length === 0 ? { failure: 'lists no GPU' } : { gpus };
}

/**
 * Memory of the smallest GPU nvidia-smi lists, in bytes (libtensorflow takes the first one visible
 * to it, which CUDA_VISIBLE_DEVICES may change), or null when nvidia-smi gives no answer.
 */
export async function gpuMemoryBytes(probe: SystemProbe): Promise<number | null> {
  const result = await probe.run('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits']);
  if (!result.ok) return null;
  const mebibytes = result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
  return mebibytes.length === 0 ? null : Math.min(...mebibytes) * 2 ** 20;
}

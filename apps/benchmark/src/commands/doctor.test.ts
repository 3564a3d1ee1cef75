import { BackendUnavailableError } from '@visual-peft/backends';
import { describe, expect, it } from 'vitest';
import { doctor } from './doctor';
import type { SystemProbe } from '../doctor/system-probe';
import { CUDA_LIBRARIES, findCudaLibraries, parseLdconfigCache, queryGpus, systemProbe } from '../doctor/system-probe';
import { runCli } from '../run-cli';

/** A machine with the NVIDIA driver and CUDA's runtime in the loader cache, but no cuDNN and no tfjs-node-gpu. */
const gpuMachine: SystemProbe = {
  run: async (command) => {
    if (command === 'nvidia-smi') return { ok: true, stdout: 'NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB\n' };
    if (command === 'ldconfig') return { ok: false, failure: 'not found' };
    return {
      ok: true,
      stdout: [
        '1234 libs found in cache `/etc/ld.so.cache\'',
        '\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda-11.2/lib64/libcudart.so.11.0',
        '\tlibcublas.so.11 (libc6,x86-64) => /usr/local/cuda-11.2/lib64/libcublas.so.11',
      ].join('\n'),
    };
  },
  exists: (path) => path === '/opt/cuda/lib64/libcublasLt.so.11',
  env: { LD_LIBRARY_PATH: '/opt/cuda/lib64' },
};

function collect() {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, io: { stdout: (line: string) => stdout.push(line), stderr: (line: string) => stderr.push(line) } };
}

describe('visual-peft-bench doctor', () => {
  it('runs from the command line and finds the wasm backend, which is always installed', async () => {
    const { code, stdout } = await runCli('doctor');
    expect(code).toBe(0);
    expect(JSON.parse(stdout.at(-1)!).backends).toContainEqual(expect.objectContaining({ package: '@tensorflow/tfjs-backend-wasm', loads: true }));
  });

  it('on this machine without tfjs-node: wasm and cpu load, and it says why each tensorflow package does not', async () => {
    const { stdout, io } = collect();
    await doctor([], io, {
      probe: systemProbe,
      // As where neither tfjs-node package is installed, whatever this machine has.
      importModule: async (name) => {
        if (name.startsWith('@tensorflow/tfjs-node')) throw Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });
        return import(name);
      },
    });
    const report = JSON.parse(stdout.at(-1)!) as {
      backends: { package: string; loads: boolean; failure: string | null; device: string | null }[];
      auto: string;
      gpu: { inUse: boolean; reasons: string[] };
      fastWasmKernels: { available: boolean };
      tfjsCore: string;
      packages: Record<string, string>;
      cpu: { cores: number };
    };
    expect(report.backends.map((backend) => [backend.package, backend.loads, backend.failure])).toEqual([
      ['@tensorflow/tfjs-node-gpu', false, 'not installed'],
      ['@tensorflow/tfjs-node', false, 'not installed'],
      ['@tensorflow/tfjs-backend-wasm', true, null],
      ['@tensorflow/tfjs-backend-cpu', true, null],
    ]);
    expect(report.auto).toBe('wasm');
    expect(report.gpu.inUse).toBe(false);
    expect(report.gpu.reasons).toContain('@tensorflow/tfjs-node-gpu: not installed');
    expect(stdout).toContain(`${'@visual-peft/segmentation-heads:'.padEnd(33)}${report.packages['@visual-peft/segmentation-heads']}`);
    expect(report.fastWasmKernels.available).toBe(true);
    expect(report.tfjsCore).toBe('4.22.0');
    expect(Object.keys(report.packages)).toContain('@visual-peft/vit-core');
    expect(report.cpu.cores).toBeGreaterThan(0);
    expect(stdout).toContain(`  ${'@tensorflow/tfjs-backend-wasm'.padEnd(32)}loads (4.22.0): CPU (WebAssembly, SIMD)`);
    expect(stdout).toContain(`  ${'@tensorflow/tfjs-node-gpu'.padEnd(32)}does not load: not installed`);
    expect(stdout.some((line) => /^fast wasm kernels: +available: installed on \d+ threads?; a transposed product matches/.test(line))).toBe(true);
  });

  it('reports the GPU it sees, the CUDA libraries found and missing, and tfjs-node-gpu\'s own load error', async () => {
    const { stdout, io } = collect();
    await doctor([], io, {
      probe: gpuMachine,
      importModule: async (name) => {
        if (name === '@tensorflow/tfjs-node-gpu') throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory\n    at Module._extensions');
        if (name === '@tensorflow/tfjs-node') throw Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });
        return import(name);
      },
    });
    expect(stdout).toContain(`  ${'@tensorflow/tfjs-node-gpu'.padEnd(32)}does not load: libtensorflow.so.2: cannot open shared object file: No such file or directory`);
    const report = JSON.parse(stdout.at(-1)!) as { auto: string; gpu: { nvidiaSmi: unknown; cudaLibraries: { library: string; path: string | null }[]; reasons: string[] } };
    expect(report.auto).toBe('wasm');
    expect(report.gpu.nvidiaSmi).toEqual({ gpus: ['NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB'] });
    expect(report.gpu.cudaLibraries.slice(0, 3)).toEqual([
      { library: 'libcudart.so.11.0', path: '/usr/local/cuda-11.2/lib64/libcudart.so.11.0' },
      { library: 'libcublas.so.11', path: '/usr/local/cuda-11.2/lib64/libcublas.so.11' },
      { library: 'libcublasLt.so.11', path: '/opt/cuda/lib64/libcublasLt.so.11' },
    ]);
    expect(report.gpu.reasons).toEqual([
      'missing CUDA libraries: libcufft.so.10, libcurand.so.10, libcusolver.so.11, libcusparse.so.11, libcudnn.so.8',
      '@tensorflow/tfjs-node-gpu: libtensorflow.so.2: cannot open shared object file: No such file or directory',
    ]);
    expect(stdout.find((line) => line.trimStart().startsWith('nvidia-smi:'))).toMatch(/NVIDIA H100 80GB HBM3/);
    expect(stdout.find((line) => line.trimStart().startsWith('libcudnn.so.8:'))).toMatch(/missing$/);
  });

  it('fails naming every package when no backend loads', async () => {
    const { stdout, io } = collect();
    const failing = doctor([], io, {
      probe: gpuMachine,
      importModule: async (name) => {
        throw new Error(`${name} is broken here`);
      },
    });
    await expect(failing).rejects.toThrow(BackendUnavailableError);
    await expect(failing).rejects.toThrow('@tensorflow/tfjs-backend-cpu: @tensorflow/tfjs-backend-cpu is broken here');
    expect(stdout).toContain(`${'auto picks:'.padEnd(33)}nothing`);
  });

  it('takes no flags', async () => {
    expect(await runCli('doctor', '--gpu')).toMatchObject({ code: 2, stderr: [expect.stringMatching(/^visual-peft-bench: doctor: Unknown option '--gpu'/)] });
  });
});

describe('system probe', () => {
  it('reads the loader cache and says why nvidia-smi could not answer', async () => {
    expect(parseLdconfigCache('\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8\n\tlibcudnn.so.8 (libc6) => /usr/lib32/libcudnn.so.8')).toEqual(
      new Map([['libcudnn.so.8', '/usr/lib/x86_64-linux-gnu/libcudnn.so.8']]),
    );
    const bare: SystemProbe = { run: async () => ({ ok: false, failure: 'not found' }), exists: () => false, env: {} };
    expect(await queryGpus(bare)).toEqual({ failure: 'not found' });
    const found = await findCudaLibraries(bare);
    expect(found.libraries.map((library) => library.path)).toEqual(CUDA_LIBRARIES.map(() => null));
    expect(found.searched).toEqual(['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib']);
  });
});

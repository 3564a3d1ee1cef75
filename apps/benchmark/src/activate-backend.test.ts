import { availableParallelism } from 'node:os';
import { fastWasmKernelsInstalled, uninstallFastWasmKernels } from '@visual-peft/backends';
import { afterAll, describe, expect, it } from 'vitest';
import { activateBackend } from './activate-backend';

afterAll(() => uninstallFastWasmKernels());

describe('activateBackend', () => {
  it('installs the fast wasm kernels on every core when it picks wasm, and says so', async () => {
    const lines: string[] = [];
    const info = await activateBackend('wasm', { stdout: () => {}, stderr: (line) => lines.push(line) });
    expect(info.backend).toBe('wasm');
    expect(fastWasmKernelsInstalled()).toBe(true);
    const threads = availableParallelism();
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^backend: wasm \\(@tensorflow/tfjs-backend-wasm 4\\.22\\.0, CPU \\(WebAssembly.*\\), fast wasm kernels on ${threads} threads? \\(large products on onnxruntime-node \\d+\\.\\d+\\.\\d+\\); tfjs-core 4\\.22\\.0\\)$`))]);
  });

  it('installs nothing on the cpu backend', async () => {
    await uninstallFastWasmKernels();
    const lines: string[] = [];
    await activateBackend('cpu', { stdout: () => {}, stderr: (line) => lines.push(line) });
    expect(fastWasmKernelsInstalled()).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/^backend: cpu \(@tensorflow\/tfjs-backend-cpu 4\.22\.0, CPU \(JavaScript\); tfjs-core 4\.22\.0\)$/)]);
  });
});

import { ConfigError } from '@visual-peft/vit-core';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchOptions, Machine } from '../scripts/bench';
import { TRAIN_IMAGES_PER_CLASS, benchRow, benchTable, parseBenchArgs, trainingImagesPerClass } from '../scripts/bench';
import { APP_ROOT, chromiumFlags } from '../scripts/page-driver';
import { BACKEND_ORDER } from '../src/backend-names';
import { UNSEEN_CLASSES, gunzip, parseIdx } from '../src/fashion-mnist';

// The benchmark's pure pieces; the measurement itself (`pnpm --filter @visual-peft/playground bench`) is no test.

describe('the bench command', () => {
  it('reads its flags, every backend by default, and refuses bad ones with a ConfigError', () => {
    expect(parseBenchArgs([])).toEqual({ steps: 5, method: 'vpt-shallow', batch: 8, backends: [...BACKEND_ORDER] });
    expect(parseBenchArgs(['--steps', '20', '--method', 'vqt', '--backends', 'wasm,cpu', '--batch', '4'])).toEqual({ steps: 20, method: 'vqt', batch: 4, backends: ['wasm', 'cpu'] });
    for (const argv of [['--steps', '0'], ['--steps', '2.5'], ['--steps'], ['--batch', 'x'], ['--backends', 'wasm,metal'], ['--method', ''], ['--method', 'vpt'], ['--epochs', '3'], ['--steps', '126']]) {
      expect(() => parseBenchArgs(argv), argv.join(' ')).toThrow(ConfigError);
    }
    expect(() => parseBenchArgs(['--steps', '126'])).toThrow(/at most 125 at batch 8/);
    expect(() => parseBenchArgs(['--steps', '1', '--batch', '1'])).toThrow(/cannot be trained in one epoch at batch 1/);
  });

  it('picks the training images per class that give exactly the asked steps, within the committed subset', async () => {
    const labels = parseIdx(await gunzip(new Uint8Array(await readFile(join(APP_ROOT, '../benchmark/demo/data/train-labels-idx1-ubyte.gz')))), 'train labels');
    for (const label of UNSEEN_CLASSES) expect(labels.data.filter((value) => value === label).length).toBe(TRAIN_IMAGES_PER_CLASS);
    for (const batch of [1, 3, 5, 8, 16]) {
      for (let steps = 1; steps * batch <= UNSEEN_CLASSES.length * TRAIN_IMAGES_PER_CLASS; steps++) {
        let perClass: number;
        try {
          perClass = trainingImagesPerClass(steps, batch);
        } catch (error) {
          // Only a batch smaller than the 5 classes has counts between two whole numbers of images per class.
          expect(error).toBeInstanceOf(ConfigError);
          expect(batch, `${steps} steps at batch ${batch}`).toBeLessThan(UNSEEN_CLASSES.length);
          continue;
        }
        // The page trains floor(images / batch) steps per epoch; one image fewer per class would give fewer.
        expect(Math.floor((UNSEEN_CLASSES.length * perClass) / batch)).toBe(steps);
        expect(Math.floor((UNSEEN_CLASSES.length * (perClass - 1)) / batch)).toBeLessThan(steps);
      }
    }
  });

  it('asks chromium for WebGPU only where it is measured', () => {
    expect(chromiumFlags('webgpu')).toEqual(['--enable-unsafe-webgpu']);
    for (const name of ['webgl', 'wasm', 'cpu'] as const) expect(chromiumFlags(name)).toEqual([]);
  });

  it('prints a row per backend, one that did not start saying why', () => {
    const options: BenchOptions = { steps: 5, method: 'vpt-shallow', batch: 8, backends: ['webgpu', 'wasm'] };
    const failed = benchRow('webgpu', { state: 'error', error: 'ConfigError: backend: none initialised: webgpu: navigator.gpu is absent' });
    const trained = benchRow('wasm', { state: 'trained', device: 'WebAssembly', steps: 5, seconds: 3, stepSeconds: 2, finalLoss: 1.23456, accuracies: [0.3, 0.41] });
    expect(trained).toEqual({ backend: 'wasm', device: 'WebAssembly', seconds: 2, steps: 5, finalLoss: 1.23456, accuracy: 0.41, error: null });
    const machine: Machine = { cpu: 'Test CPU', cores: 2, chromium: '156.0', loadBefore: [1, 2, 3], loadAfter: [4, 5, 6], date: '2026-12-06' };
    const lines = benchTable(options, [failed, trained], machine).split('\n');
    expect(lines[0]).toBe('5 steps of vpt-shallow at batch 8 on the committed Fashion-MNIST subset (demo supervised backbone), 2026-12-06; 2 cores (Test CPU), Chromium 156.0 headless; load average (1, 5, 15 min) 1.00 2.00 3.00 before, 4.00 5.00 6.00 after.');
    expect(lines.slice(4)).toEqual([
      '| webgpu |  | did not run: ConfigError: backend: none initialised: webgpu: navigator.gpu is absent | | | | --enable-unsafe-webgpu |',
      '| wasm | WebAssembly | 2.0 | 0.40 | 1.235 | 41 % |  |',
    ]);
  });
});

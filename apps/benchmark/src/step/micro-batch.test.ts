import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '@visual-peft/backends';
import { Trainer, sliceBatch } from '@visual-peft/training';
import { VisionTransformer, applyTrainablePolicy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import type { SystemProbe } from '../doctor/system-probe';
import { UsageError } from '../errors';
import { HOST_MEMORY_SHARE, WASM_HEAP_LIMIT, chooseMicroBatch, describeMicroBatch, memoryBudget, microBatchFlag, probeMicroBatch } from './micro-batch';
import { syntheticBatch } from './synthetic-data';

const MIB = 2 ** 20;
const budget = (mebibytes: number) => ({ bytes: mebibytes * MIB, source: 'a test budget' });

function backend(name: BackendInfo['backend'], device: string): BackendInfo {
  return { backend: name, package: `@tensorflow/tfjs-${name}`, packageVersion: '4.22.0', tfjsCoreVersion: '4.22.0', device, attempts: [] };
}

function probeAnswering(nvidiaSmi: string | null): SystemProbe & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run: async (command, args) => {
      calls.push([command, ...args]);
      return nvidiaSmi === null ? { ok: false, failure: 'not found' } : { ok: true, stdout: nvidiaSmi };
    },
    exists: () => false,
    env: {},
  };
}

describe('--micro-batch auto: the rule', () => {
  it('fits fixed + n * per-image bytes into 80% of the budget, with three more copies of the trainable weights', () => {
    // Slope 10 MiB per image; fixed = 110 - 10 + 3 * 2 = 106 MiB; 80% of 1000 MiB leaves 694 MiB: 69 images.
    const probe = { peakOne: 110 * MIB, peakTwo: 120 * MIB, trainableBytes: 2 * MIB };
    expect(chooseMicroBatch(128, budget(1000), probe)).toEqual({
      microBatch: 69,
      batchSize: 128,
      auto: { budget: budget(1000), perImageBytes: 10 * MIB, fixedBytes: 106 * MIB, fits: true },
    });
    // Never more than the batch, never fewer than one image (and then it says so).
    expect(chooseMicroBatch(32, budget(1000), probe).microBatch).toBe(32);
    const tight = chooseMicroBatch(128, budget(130), probe);
    expect(tight).toMatchObject({ microBatch: 1, auto: { fits: false } });
    // 80% of 145 MiB is 116 MiB, 10 MiB above the fixed part: exactly one image.
    expect(chooseMicroBatch(128, budget(145), probe)).toMatchObject({ microBatch: 1, auto: { fits: true } });
    // No per-image cost measured (or a negative one from noise): the whole batch.
    expect(chooseMicroBatch(64, budget(1000), { ...probe, peakTwo: probe.peakOne }).microBatch).toBe(64);
    expect(chooseMicroBatch(64, budget(1000), { ...probe, peakTwo: probe.peakOne - MIB }).microBatch).toBe(64);
  });

  it('budgets the wasm heap’s 4 GiB, the smallest GPU nvidia-smi lists on a CUDA device, else half the host memory', async () => {
    const host = 64 * 2 ** 30;
    const noGpu = probeAnswering(null);
    expect(await memoryBudget(backend('wasm', 'CPU (WebAssembly, SIMD)'), noGpu, host)).toEqual({ bytes: WASM_HEAP_LIMIT, source: 'the wasm heap limit' });
    expect(WASM_HEAP_LIMIT).toBe(4 * 2 ** 30);
    const gpus = probeAnswering('81559\n40960\n');
    expect(await memoryBudget(backend('tensorflow', 'GPU (CUDA)'), gpus, host)).toEqual({ bytes: 40960 * MIB, source: 'GPU memory (nvidia-smi)' });
    expect(gpus.calls).toEqual([['nvidia-smi', '--query-gpu=memory.total', '--format=csv,noheader,nounits']]);
    const half = { bytes: HOST_MEMORY_SHARE * host, source: 'half the host memory' };
    expect(await memoryBudget(backend('tensorflow', 'GPU (CUDA)'), noGpu, host)).toEqual(half);
    expect(await memoryBudget(backend('tensorflow', 'GPU (CUDA)'), probeAnswering('[N/A]\n'), host)).toEqual(half);
    expect(await memoryBudget(backend('tensorflow', 'CPU (libtensorflow)'), gpus, host)).toEqual(half);
    expect(await memoryBudget(backend('cpu', 'CPU (JavaScript)'), gpus, host)).toEqual(half);
  });

  it('reads the flag: auto, or an integer from 1 to the batch size, else one line naming the rule', () => {
    expect(microBatchFlag(undefined, 8)).toBeUndefined();
    expect(microBatchFlag('auto', 8)).toBe('auto');
    expect(microBatchFlag('3', 8)).toBe(3);
    expect(microBatchFlag('8', 8)).toBe(8);
    for (const bad of ['0', '-1', '9', '2.5', 'x', '', ' 3', '1e1', 'AUTO']) {
      expect(() => microBatchFlag(bad, 8), bad).toThrow(UsageError);
      expect(() => microBatchFlag(bad, 8), bad).toThrow(`--micro-batch must be auto or an integer from 1 to the batch size (--batch-size 8), got ${JSON.stringify(bad)}`);
    }
  });

  it('says what it chose and why', () => {
    expect(describeMicroBatch({ microBatch: 4, batchSize: 32, auto: null })).toBe('micro-batch 4 of 32 images per pass');
    const choice = chooseMicroBatch(128, budget(1000), { peakOne: 110 * MIB, peakTwo: 120 * MIB, trainableBytes: 2 * MIB });
    expect(describeMicroBatch(choice)).toBe('micro-batch 69 of 128 images per pass (auto: 10.0 MiB per image, 106.0 MiB fixed, 80% of 1000.0 MiB (a test budget))');
    expect(describeMicroBatch(chooseMicroBatch(128, budget(130), { peakOne: 110 * MIB, peakTwo: 120 * MIB, trainableBytes: 2 * MIB }))).toMatch(/; even one image exceeds that share, so the run may run out of memory\)$/);
  });
});

describe('--micro-batch auto: the probe', () => {
  it('measures a per-image cost on a tiny ViT that predicts the peak of a larger pass, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const model = new VisionTransformer({ imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 4, numClasses: 10 }, { seed: 1 });
    applyTrainablePolicy(model, 'full');
    const trainer = new Trainer(model, [], { epochs: 1, stepsPerEpoch: 1, optimizer: { kind: 'adamw', learningRate: 0.001 } });
    const batch = syntheticBatch([8, 3, 32, 32], 10);
    const probe = await probeMicroBatch(trainer, batch);
    const weights = model.parameters.reduce((sum, parameter) => sum + 4 * parameter.variable.size, 0);
    expect(probe.trainableBytes).toBe(weights);
    // Both peaks hold the weights; two images hold more activations than one.
    expect(probe.peakOne).toBeGreaterThan(weights);
    expect(probe.peakTwo).toBeGreaterThan(probe.peakOne);
    // The linear model the rule rests on: fixed + 8 * perImage is within 10% of a pass of 8 images' peak.
    const slope = probe.peakTwo - probe.peakOne;
    const predicted = probe.peakOne + 7 * slope;
    const measured = (
      await tf.profile(() => {
        const { loss, gradients } = trainer.gradients(sliceBatch(batch, 0, 8), { seed: 0, epoch: 0, globalStep: 0 });
        tf.dispose([loss, ...gradients.values()]);
      })
    ).peakBytes;
    expect(Math.abs(predicted - measured) / measured).toBeLessThan(0.1);
    // With a budget that holds four images' worth beyond the fixed part, four it is.
    const fixed = probe.peakOne - slope + 3 * weights;
    expect(chooseMicroBatch(8, { bytes: (fixed + 4.5 * slope) / 0.8, source: 'test' }, probe).microBatch).toBe(4);
    trainer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { DivergenceError, Sgd, readTrainingCheckpoint } from '@visual-peft/training';
import type { TrainableParameter } from '@visual-peft/training';
import type { VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, applyTrainablePolicy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { blocksBatch } from './__fixtures__/blocks-batch';
import { tinyBackbone, useTinySetrPup } from './__fixtures__/tiny-backbone';
import { polyLearningRate } from './poly-learning-rate';
import type { SegmentationLoopConfigInput, SegmentationTrainSource } from './segmentation-loop';
import { SegmentationLoop, resolveSegmentationLoopConfig } from './segmentation-loop';
import type { GradientUpdate } from './segmentation-trainer';
import { SegmentationTrainer } from './segmentation-trainer';
import type { SetrPupConfigInput } from './setr-pup';
import { SetrPup } from './setr-pup';

// 3 decode stages of x2 bring the 4x4 grid of 8-pixel patches to the image's 32x32; BitFit's biases stand for a method's variables.
const HEADS: SetrPupConfigInput = { numClasses: 2, decodeHead: { channels: 4, numStages: 3 }, auxiliaryHead: { channels: 4 }, auxiliaryIndices: [0] };
const bitFit = (backbone: VisionTransformer) => applyTrainablePolicy(backbone, 'bias');

/** The same backbone and heads as `useTinySetrPup`'s, for a second run to compare with. */
function twin(): { backbone: VisionTransformer; model: SetrPup; dispose: () => void } {
  const backbone = tinyBackbone();
  bitFit(backbone);
  const model = new SetrPup(backbone, HEADS);
  return { backbone, model, dispose: () => (model.dispose(), backbone.dispose()) };
}

/** Every backbone and head tensor (running statistics included) as plain arrays. */
function snapshot(model: SetrPup): number[][] {
  return [...model.backbone.parameters, ...model.parameters].map((parameter) => Array.from(parameter.variable.dataSync()));
}

/** Three batches an epoch, each drawn from (epoch, batch). */
const source: SegmentationTrainSource = Object.assign(
  async function* (epoch: number, startBatch = 0) {
    for (let batch = startBatch; batch < 3; batch++) yield blocksBatch(2, 100 * epoch + batch);
  },
  { batchesPerEpoch: 3 },
);

describe('SegmentationLoop', () => {
  const tiny = useTinySetrPup(HEADS, bitFit);

  it("updates exactly as the deprecated trainer driving one training SGD per group (the benchmark's former glue)", () => {
    const config: SegmentationLoopConfigInput = { maxIterations: 10, learningRate: 0.05, minLearningRate: 1e-3 };
    const loop = new SegmentationLoop(tiny.model, [], config);
    const old = twin();
    const groupSgd = (name: string, parameters: TrainableParameter[]): { sgd: Sgd; update: GradientUpdate } => {
      const sgd = new Sgd([{ name, learningRate: 0, weightDecay: 0, parameters }]);
      const keyOf = new Map(parameters.map((parameter) => [parameter.variable.name, parameter.key]));
      return { sgd, update: (gradients, rate) => sgd.step(new Map(Object.entries(gradients).map(([name, gradient]) => [keyOf.get(name)!, gradient])), [rate]) };
    };
    const backboneParameters = old.backbone.parameters.filter((parameter) => parameter.variable.trainable);
    const backbone = groupSgd('backbone', backboneParameters);
    const head = groupSgd('head', old.model.parameters.filter((parameter) => !parameter.buffer));
    const trainer = new SegmentationTrainer(
      old.model,
      backboneParameters.map((parameter) => parameter.variable),
      { backbone: backbone.update, head: head.update },
      { ...config, maxIterations: 10 },
    );
    try {
      for (let step = 0; step < 3; step++) {
        const batch = blocksBatch(2, 20 + step);
        const ours = loop.step(batch);
        const theirs = trainer.step(batch);
        expect(ours).toEqual(theirs);
      }
      expect(loop.optimizer.groups.map((group) => [group.name, group.learningRate])).toEqual([
        ['backbone', 0.05],
        ['head', 0.5],
      ]);
      expect(snapshot(tiny.model)).toEqual(snapshot(old.model));
      expect(loop.optimizer.state().tensors.size).toBe(backbone.sgd.state().tensors.size + head.sgd.state().tensors.size);
    } finally {
      loop.dispose();
      backbone.sgd.dispose();
      head.sgd.dispose();
      old.dispose();
    }
  });

  it("schedules both groups by training's poly schedule, the heads at 10x, to mmseg's common floor", () => {
    const loop = new SegmentationLoop(tiny.model, [], { maxIterations: 160_000 });
    try {
      expect(loop.learningRates(0)).toEqual({ backbone: 1e-3, head: 1e-2 });
      for (const iteration of [1, 80_000, 159_999, 160_000]) {
        expect(loop.learningRates(iteration)).toEqual({
          backbone: polyLearningRate(1e-3, iteration, 160_000, 0.9, 1e-4),
          head: polyLearningRate(1e-2, iteration, 160_000, 0.9, 1e-4),
        });
      }
      expect(loop.learningRates(80_000).head).toBeCloseTo((1e-2 - 1e-4) * 0.5 ** 0.9 + 1e-4, 15);
      expect(loop.learningRates(160_000)).toEqual({ backbone: 1e-4, head: 1e-4 });
    } finally {
      loop.dispose();
    }
  });

  it('checkpoints every checkpointEvery iterations and when stopped, and a resumed run ends bit for bit where an unbroken one does', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'visual-peft-segmentation-loop-'));
    const config: SegmentationLoopConfigInput = { maxIterations: 5, learningRate: 0.03, checkpointEvery: 2, seed: 7 };
    const full = new SegmentationLoop(tiny.model, [], config);
    const written: number[] = [];
    const fullRun = await full.fit({ train: source, outputDir: join(directory, 'full'), onCheckpoint: (_, iteration) => written.push(iteration) });
    full.dispose();
    expect(fullRun).toEqual({ status: 'completed', iterations: 5, resumedFrom: null });
    expect(written).toEqual([2, 4, 5]);

    const stoppedTwin = twin();
    const controller = new AbortController();
    const seen: number[] = [];
    const first = new SegmentationLoop(stoppedTwin.model, [], config);
    const stopped = await first.fit({
      train: source,
      outputDir: join(directory, 'resumed'),
      signal: controller.signal,
      onStep: (result) => {
        seen.push(result.iteration);
        if (result.iteration === 2) controller.abort();
      },
    });
    first.dispose();
    stoppedTwin.dispose();
    expect(stopped).toEqual({ status: 'stopped', iterations: 3, resumedFrom: null });
    const checkpoint = await readTrainingCheckpoint(join(directory, 'resumed'));
    expect(checkpoint!.record.iteration).toBe(3);
    const keys = [...checkpoint!.tensors.keys()];
    expect(keys.some((key) => key.startsWith('heads/decode_head.') && key.endsWith('running_var'))).toBe(true);
    expect(keys.some((key) => key.startsWith('optimizer.head/momentum_buffer/decode_head.'))).toBe(true);
    expect(keys).toContain('optimizer.backbone/momentum_buffer/blocks.0.attn.qkv.bias');
    expect(keys).toContain('model/blocks.0.attn.qkv.bias');

    // A fresh model: everything the run changed comes back from the checkpoint.
    const resumedTwin = twin();
    const second = new SegmentationLoop(resumedTwin.model, [], config);
    const starts: (number | null)[] = [];
    try {
      const resumed = await second.fit({ train: source, outputDir: join(directory, 'resumed'), onStart: (from) => starts.push(from), onStep: (result) => seen.push(result.iteration) });
      expect(resumed).toEqual({ status: 'completed', iterations: 5, resumedFrom: 3 });
      expect(starts).toEqual([3]);
      expect(seen).toEqual([0, 1, 2, 3, 4]);
      expect(snapshot(resumedTwin.model)).toEqual(snapshot(tiny.model));

      const other = new SegmentationLoop(resumedTwin.model, [], { ...config, learningRate: 0.01 });
      const refused = await other.fit({ train: source, outputDir: join(directory, 'full') }).catch((error: unknown) => error);
      other.dispose();
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as Error).message).toMatch(/holds a checkpoint of another run \(config\.learningRate: 0\.03 in the checkpoint, 0\.01 now\)/);
    } finally {
      second.dispose();
      resumedTwin.dispose();
    }
  });

  it('refuses a diverged step before the optimiser updates anything, and refuses bad configurations', () => {
    const loop = new SegmentationLoop(tiny.model, [], { maxIterations: 5 });
    const trained = () => [...tiny.backbone.parameters, ...tiny.model.parameters.filter((parameter) => !parameter.buffer)].map((parameter) => Array.from(parameter.variable.dataSync()));
    try {
      const before = trained();
      const batch = blocksBatch(2, 3);
      const broken = { ...batch, images: batch.images.map((value, index) => (index === 0 ? Number.NaN : value)) };
      expect(() => loop.step(broken)).toThrow(DivergenceError);
      expect(() => loop.step(broken)).toThrow(/the loss is NaN at epoch 0, step 0 \(global step 0\)/);
      expect(loop.iteration).toBe(0);
      // BatchNorm's running statistics took the batch in the forward pass, as in PyTorch; no weight moved.
      expect(trained()).toEqual(before);
      expect(loop.optimizer.state().tensors.size).toBe(0);
    } finally {
      loop.dispose();
    }
    expect(resolveSegmentationLoopConfig({ maxIterations: 5, optimizer: { kind: 'adamw', weightDecay: 0.05 } }).optimizer).toEqual({
      kind: 'adamw',
      learningRate: 1e-3,
      weightDecay: 0.05,
      betas: [0.9, 0.999],
      eps: 1e-8,
    });
    const cases: [Partial<SegmentationLoopConfigInput>, RegExp][] = [
      [{ maxIterations: 0 }, /^maxIterations must be an integer >= 1, got 0$/],
      [{ minLearningRate: 0.01 }, /^minLearningRate must be a finite number in \[0, 0.001\], got 0.01$/],
      [{ checkpointEvery: 0 }, /^checkpointEvery must be an integer >= 1, got 0$/],
      [{ optimizer: { learningRate: 1 } as never }, /^optimizer.learningRate is not an option/],
      [{ optimizer: { kind: 'lamb' as never } }, /^optimizer.kind must be one of/],
      [{ optimizer: { kind: 'sgd', betas: [0.9, 0.99] } }, /^optimizer.betas is not an option/],
    ];
    for (const [override, message] of cases) expect(() => resolveSegmentationLoopConfig({ maxIterations: 5, ...override })).toThrow(message);
    const detached = { name: 'detached', trainableVariables: () => [] } as never;
    expect(() => new SegmentationLoop(tiny.model, [detached], { maxIterations: 5 })).toThrow(/^methods must be attached to the backbone before training/);
  });

  it('leaks no tensor over steps once the momentum slots exist', () => {
    const loop = new SegmentationLoop(tiny.model, [], { maxIterations: 5 });
    try {
      loop.step(blocksBatch(2, 4));
      const after = tf.memory().numTensors;
      loop.step(blocksBatch(2, 5));
      expect(tf.memory().numTensors).toBe(after);
    } finally {
      loop.dispose();
    }
  });
});

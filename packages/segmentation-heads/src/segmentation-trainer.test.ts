import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, applyTrainablePolicy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { blocksBatch } from './__fixtures__/blocks-batch';
import { tinyBackbone, useTinySetrPup, values } from './__fixtures__/tiny-backbone';
import { polyLearningRate } from './poly-learning-rate';
import type { GradientUpdate, SegmentationTrainerConfigInput } from './segmentation-trainer';
import { SegmentationTrainer } from './segmentation-trainer';
import { SetrPup } from './setr-pup';

describe('polyLearningRate', () => {
  it('decays from the base rate to the floor as (1 - i / max)^0.9', () => {
    expect(polyLearningRate(1e-3, 0, 160_000, 0.9, 1e-4)).toBe(1e-3);
    expect(polyLearningRate(1e-3, 80_000, 160_000, 0.9, 1e-4)).toBeCloseTo(0.9e-3 * 0.5 ** 0.9 + 1e-4, 15);
    expect(polyLearningRate(1e-3, 160_000, 160_000, 0.9, 1e-4)).toBe(1e-4);
    expect(polyLearningRate(1e-2, 40, 100, 0.9, 0)).toBeCloseTo(1e-2 * 0.6 ** 0.9, 15);
    expect(() => polyLearningRate(1e-3, 101, 100, 0.9, 0)).toThrow(/^iteration must be an integer in \[0, 100\] \(maxIterations\), got 101$/);
    expect(() => polyLearningRate(1e-3, 1.5, 100, 0.9, 0)).toThrow(/^iteration must be an integer/);
  });
});

describe('SegmentationTrainer', () => {
  // BitFit on the backbone: its biases stand for a tuning method's variables. 3 decode stages of x2
  // bring the 4x4 grid of 8-pixel patches to the image's 32x32, as 4 do for ViT-B/16.
  const tiny = useTinySetrPup(
    { numClasses: 2, decodeHead: { channels: 4, numStages: 3 }, auxiliaryHead: { channels: 4 }, auxiliaryIndices: [0] },
    (backbone) => applyTrainablePolicy(backbone, 'bias'),
  );

  const backboneVariables = () => tiny.backbone.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.variable);

  it('schedules both groups by poly, the heads at 10x: exactly with no floor, to mmseg’s common floor otherwise', () => {
    const record: GradientUpdate = () => undefined;
    const optimizers = { backbone: record, head: record };
    const exact = new SegmentationTrainer(tiny.model, backboneVariables(), optimizers, { maxIterations: 100, minLearningRate: 0 });
    for (const iteration of [0, 1, 37, 99]) {
      const rates = exact.learningRates(iteration);
      expect(rates.backbone).toBeCloseTo(1e-3 * (1 - iteration / 100) ** 0.9, 15);
      expect(rates.head).toBeCloseTo(10 * rates.backbone, 15);
    }
    const floored = new SegmentationTrainer(tiny.model, backboneVariables(), optimizers, { maxIterations: 160_000 });
    expect(floored.learningRates(0)).toEqual({ backbone: 1e-3, head: 1e-2 });
    const half = floored.learningRates(80_000);
    expect(half.head).toBeCloseTo((1e-2 - 1e-4) * 0.5 ** 0.9 + 1e-4, 15);
    expect(half.backbone).toBeCloseTo((1e-3 - 1e-4) * 0.5 ** 0.9 + 1e-4, 15);
  });

  it('hands each group exactly its variables’ gradients at the scheduled rate, step after step', () => {
    const seen: { group: string; names: string[]; learningRate: number }[] = [];
    const recorder =
      (group: string): GradientUpdate =>
      (gradients, learningRate) =>
        seen.push({ group, names: Object.keys(gradients).sort(), learningRate });
    const trainer = new SegmentationTrainer(tiny.model, backboneVariables(), { backbone: recorder('backbone'), head: recorder('head') }, { maxIterations: 10, learningRate: 0.01 });
    const batch = blocksBatch(2, 1);
    const results = [trainer.step(batch), trainer.step(batch)];
    expect(results.map((result) => result.iteration)).toEqual([0, 1]);
    expect(trainer.iteration).toBe(2);
    // The backbone's final norm is not read by SETR (mmseg's final_norm=False): its bias gets no gradient.
    const reached = tiny.backbone.parameters.filter((parameter) => parameter.variable.trainable && parameter.key !== 'norm.bias');
    expect(seen.filter((entry) => entry.group === 'backbone').map((entry) => entry.names)).toEqual([0, 1].map(() => reached.map((parameter) => parameter.variable.name).sort()));
    expect(seen.filter((entry) => entry.group === 'head').map((entry) => entry.names)).toEqual([0, 1].map(() => tiny.model.trainableVariables().map((variable) => variable.name).sort()));
    expect(seen.map((entry) => entry.learningRate)).toEqual([
      trainer.learningRates(0).backbone,
      trainer.learningRates(0).head,
      trainer.learningRates(1).backbone,
      trainer.learningRates(1).head,
    ]);
    expect(results[0]!.learningRates).toEqual(trainer.learningRates(0));
    expect(results[0]!.loss).toBeCloseTo(results[0]!.decodeLoss + 0.4 * results[0]!.auxiliaryLosses[0]!, 5);
  });

  it('drives tfjs optimisers at the scheduled rate: tf.train.sgd updates as v - rate * gradient', () => {
    const twinBackbone = tinyBackbone();
    applyTrainablePolicy(twinBackbone, 'bias');
    const twin = new SetrPup(twinBackbone, tiny.model.config);
    const sgd = { backbone: tf.train.sgd(1), head: tf.train.sgd(1) };
    const manual: GradientUpdate = (gradients, learningRate) =>
      tf.tidy(() => {
        for (const [name, gradient] of Object.entries(gradients)) {
          const variable = tf.engine().registeredVariables[name]!;
          variable.assign(tf.sub(variable, tf.mul(gradient, learningRate)));
        }
      });
    const config: SegmentationTrainerConfigInput = { maxIterations: 4, learningRate: 0.05 };
    const withSgd = new SegmentationTrainer(tiny.model, backboneVariables(), sgd, config);
    const twinVariables = twinBackbone.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.variable);
    const byHand = new SegmentationTrainer(twin, twinVariables, { backbone: manual, head: manual }, config);
    for (let step = 0; step < 3; step++) {
      const batch = blocksBatch(2, 10 + step);
      withSgd.step(batch);
      byHand.step(batch);
    }
    tiny.model.parameters.forEach((parameter, index) => {
      const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(parameter.variable, twin.parameters[index]!.variable))).dataSync()[0]!);
      expect(difference, parameter.key).toBeLessThan(1e-5);
    });
    const untouched = tinyBackbone();
    const index = untouched.parameters.findIndex((parameter) => parameter.key === 'blocks.0.attn.qkv.bias');
    expect(values(tiny.backbone.parameters[index]!.variable)).not.toEqual(values(untouched.parameters[index]!.variable));
    untouched.dispose();
    sgd.backbone.dispose();
    sgd.head.dispose();
    twin.dispose();
    twinBackbone.dispose();
  });

  it('lowers the loss in a few momentum-SGD steps on a tiny task, leaking no tensor', () => {
    // The rates given here are replaced by the schedule's at every step.
    const optimizers = { backbone: tf.train.momentum(1, 0.9), head: tf.train.momentum(1, 0.9) };
    try {
      const trainer = new SegmentationTrainer(tiny.model, backboneVariables(), optimizers, { maxIterations: 30, learningRate: 0.03, minLearningRate: 0 });
      const batch = blocksBatch(4, 3);
      const first = trainer.step(batch);
      const afterFirst = tf.memory().numTensors; // the momentum slots exist now
      let last = first;
      for (let step = 1; step < 20; step++) last = trainer.step(batch);
      expect(tf.memory().numTensors).toBe(afterFirst);
      expect(last.loss, `loss ${first.loss} -> ${last.loss}`).toBeLessThan(0.7 * first.loss);
      expect(last.decodeLoss).toBeLessThan(first.decodeLoss);
      expect(last.auxiliaryLosses[0]).toBeLessThan(first.auxiliaryLosses[0]!);
    } finally {
      for (const optimizer of [optimizers.backbone, optimizers.head]) {
        optimizer.dispose();
        // tfjs 4.22's MomentumOptimizer.dispose() leaves SGD's learning-rate scalar behind.
        (optimizer as unknown as { c: tf.Tensor }).c.dispose();
      }
    }
  });

  it('stops at maxIterations and resumes from startIteration', () => {
    const noop: GradientUpdate = () => undefined;
    const trainer = new SegmentationTrainer(tiny.model, [], { backbone: noop, head: noop }, { maxIterations: 3, startIteration: 2 });
    expect(trainer.iteration).toBe(2);
    expect(trainer.step(blocksBatch(2, 4)).iteration).toBe(2);
    expect(() => trainer.step(blocksBatch(2, 4))).toThrow(/^iteration must be below maxIterations \(3\): the run is complete, got 3$/);
  });

  it('refuses bad batches, optimisers and variable groups, and validates its configuration', () => {
    const noop: GradientUpdate = () => undefined;
    const optimizers = { backbone: noop, head: noop };
    const trainer = new SegmentationTrainer(tiny.model, [], optimizers, { maxIterations: 5 });
    const batch = blocksBatch(2, 5);
    expect(() => trainer.step({ ...batch, labels: batch.labels.subarray(1) })).toThrow(ShapeError);
    expect(trainer.iteration).toBe(0);

    const adam = tf.train.adam(1e-3);
    expect(() => new SegmentationTrainer(tiny.model, [], { backbone: noop, head: adam }, { maxIterations: 5 })).toThrow(/^optimizers.head must be a tfjs optimizer whose rate can be set/);
    adam.dispose();
    const frozen = tiny.backbone.parameters.find((parameter) => !parameter.variable.trainable)!.variable;
    expect(() => new SegmentationTrainer(tiny.model, [frozen], optimizers, { maxIterations: 5 })).toThrow(/^backboneVariables\[0\] must be trainable/);
    expect(() => new SegmentationTrainer(tiny.model, [tiny.model.trainableVariables()[0]!], optimizers, { maxIterations: 5 })).toThrow(/^backboneVariables\[0\] must not be a head variable/);

    const cases: [Partial<SegmentationTrainerConfigInput>, RegExp][] = [
      [{ maxIterations: 0 }, /^maxIterations must be an integer >= 1, got 0$/],
      [{ learningRate: 0 }, /^learningRate must be a finite number > 0, got 0$/],
      [{ headLearningRateMultiplier: -10 }, /^headLearningRateMultiplier must be a finite number > 0, got -10$/],
      [{ power: 0 }, /^power must be a finite number > 0, got 0$/],
      [{ minLearningRate: 0.01 }, /^minLearningRate must be a finite number in \[0, 0.001\], got 0.01$/],
      [{ seed: -2 }, /^seed must be an integer >= 0, got -2$/],
      [{ startIteration: 5 }, /^startIteration must be below maxIterations \(5\), got 5$/],
      [{ warmup: 10 } as never, /^config.warmup is not an option/],
    ];
    for (const [override, message] of cases) expect(() => new SegmentationTrainer(tiny.model, [], optimizers, { maxIterations: 5, ...override })).toThrow(message);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@visual-peft/training';
import { VisionTransformer, applyTrainablePolicy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { gradientPass, profileStep } from './profile-step';
import { syntheticBatch } from './synthetic-data';

describe('profileStep', () => {
  it("without repeats: one run, tf.profile's peak (the tensors alive together) and that run's seconds; leaks nothing", async () => {
    const before = tf.memory().numTensors;
    let calls = 0;
    const profile = await profileStep(async () => {
      calls += 1;
      // Two 1000-float tensors alive at once: at least 8,000 bytes at the peak.
      tf.tidy(() => void tf.add(tf.ones([1000]), tf.ones([1000])).dataSync());
      await sleep(50);
    });
    expect(calls).toBe(1);
    expect(profile.runs).toBe(1);
    expect(profile.peakBytes).toBeGreaterThanOrEqual(8000);
    expect(profile.seconds).toBeGreaterThanOrEqual(0.045);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with repeats: the profiled run is a warm-up and the seconds are the median of the timed runs', async () => {
    // Warm-up 0 ms, then 100, 20 and 300 ms: the median is the 100 ms run.
    const delays = [0, 100, 20, 300];
    let calls = 0;
    const profile = await profileStep(() => sleep(delays[calls++]!), { repeats: 3 });
    expect(calls).toBe(4);
    expect(profile.runs).toBe(3);
    expect(profile.seconds).toBeGreaterThanOrEqual(0.095);
    expect(profile.seconds).toBeLessThan(0.29);
  });

  it('a profiled run slower than slowSeconds is the measurement: no repeats', async () => {
    let calls = 0;
    const profile = await profileStep(
      async () => {
        calls += 1;
        await sleep(30);
      },
      { repeats: 3, slowSeconds: 0.01 },
    );
    expect(calls).toBe(1);
    expect(profile.runs).toBe(1);
    expect(profile.seconds).toBeGreaterThanOrEqual(0.025);
  });
});

describe('gradientPass', () => {
  it("runs the trainer's forward and backward without an update, frees the gradients, and peaks higher with more images", async () => {
    const before = tf.memory().numTensors;
    const model = new VisionTransformer({ imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 4, numClasses: 10 }, { seed: 1 });
    applyTrainablePolicy(model, 'full');
    const trainer = new Trainer(model, [], { epochs: 1, stepsPerEpoch: 1, optimizer: { kind: 'sgd', learningRate: 0.1, momentum: 0.9 } });
    const weightsBefore = model.parameters.map((parameter) => parameter.variable.dataSync().slice());
    const weightBytes = model.parameters.reduce((sum, parameter) => sum + 4 * parameter.variable.size, 0);
    const after = tf.memory().numTensors;
    const one = await profileStep(gradientPass(trainer, syntheticBatch([1, 3, 32, 32], 10)));
    const four = await profileStep(gradientPass(trainer, syntheticBatch([4, 3, 32, 32], 10)));
    expect(tf.memory().numTensors).toBe(after);
    // The peak holds the weights and the activations; four images hold more of them than one.
    expect(one.peakBytes).toBeGreaterThan(weightBytes);
    expect(four.peakBytes).toBeGreaterThan(one.peakBytes);
    model.parameters.forEach((parameter, index) => expect(parameter.variable.dataSync()).toEqual(weightsBefore[index]));
    trainer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from './errors';
import { perImageDropout } from './ops';
import { perImageUniform, randomSite } from './per-image-random';

const SITE = [randomSite('test/site'), 3];

/** Values of a tensor, freed. */
function take(tensor: tf.Tensor): number[] {
  const values = Array.from(tensor.dataSync());
  tensor.dispose();
  return values;
}

describe('per-image random draws', () => {
  let tensorsBefore: number;
  beforeEach(() => {
    tensorsBefore = tf.memory().numTensors;
  });
  afterEach(() => {
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('draw each image’s numbers from (seed, site, its place in the batch) alone, so a split batch draws the same', () => {
    const whole = take(perImageUniform({ seed: 11, imageOffset: 0 }, SITE, [5, 3, 4]));
    const head = take(perImageUniform({ seed: 11, imageOffset: 0 }, SITE, [2, 3, 4]));
    const tail = take(perImageUniform({ seed: 11, imageOffset: 2 }, SITE, [3, 3, 4]));
    expect([...head, ...tail]).toEqual(whole);
    // Image 4 alone, as the last micro-batch of one image would draw it.
    expect(take(perImageUniform({ seed: 11, imageOffset: 4 }, SITE, [1, 12]))).toEqual(whole.slice(48));
    expect(take(perImageUniform({ seed: 12, imageOffset: 0 }, SITE, [5, 3, 4]))).not.toEqual(whole);
    expect(take(perImageUniform({ seed: 11, imageOffset: 0 }, [SITE[0]!, 4], [5, 3, 4]))).not.toEqual(whole);
    expect(take(perImageUniform({ seed: 11, imageOffset: 0 }, [randomSite('test/other'), 3], [5, 3, 4]))).not.toEqual(whole);
  });

  it('are uniform in [0, 1), and unseeded without a seed', () => {
    const values = take(perImageUniform({ seed: 5, imageOffset: 0 }, SITE, [40, 100]));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const buckets = new Array<number>(10).fill(0);
    values.forEach((value) => buckets[Math.floor(value * 10)]!++);
    buckets.forEach((count) => expect(Math.abs(count - 400)).toBeLessThan(80));
    const unseeded = take(perImageUniform({ seed: undefined, imageOffset: 0 }, SITE, [2, 50]));
    expect(unseeded).toHaveLength(100);
    expect(unseeded.every((value) => value >= 0 && value < 1)).toBe(true);
    expect(take(perImageUniform({ seed: undefined, imageOffset: 0 }, SITE, [2, 50]))).not.toEqual(unseeded);
  });

  it('drop out at the rate and scale the kept values by 1 / (1 - rate), per element or per sample', () => {
    const ones = tf.ones([64, 10, 20]);
    const dropped = take(perImageDropout(ones, 0.3, { seed: 2, imageOffset: 0 }, SITE));
    const zeros = dropped.filter((value) => value === 0).length;
    expect(Math.abs(zeros / dropped.length - 0.3)).toBeLessThan(0.02);
    expect(dropped.every((value) => value === 0 || Math.abs(value - 1 / 0.7) < 1e-6)).toBe(true);
    const perSample = perImageDropout(ones, 0.5, { seed: 2, imageOffset: 0 }, SITE, [64, 1, 1]);
    const values = take(perSample);
    const rows = Array.from({ length: 64 }, (_, sample) => new Set(values.slice(sample * 200, (sample + 1) * 200)));
    expect(rows.every((row) => row.size === 1 && (row.has(0) || row.has(2)))).toBe(true);
    const droppedSamples = rows.filter((row) => row.has(0)).length;
    expect(droppedSamples).toBeGreaterThan(16);
    expect(droppedSamples).toBeLessThan(48);
    // Rate 0 hands back the input itself.
    expect(perImageDropout(ones, 0, { seed: 2, imageOffset: 0 }, SITE)).toBe(ones);
    ones.dispose();
  });

  it('give each micro-batch the mask its images get in the whole batch', () => {
    const x = tf.randomNormal([6, 4, 5], 0, 1, 'float32', 1);
    const whole = take(perImageDropout(x, 0.4, { seed: 9, imageOffset: 0 }, SITE));
    const parts = [0, 4].map((start) => {
      const part = tf.slice(x, [start, 0, 0], [Math.min(4, 6 - start), -1, -1]);
      const values = take(perImageDropout(part, 0.4, { seed: 9, imageOffset: start }, SITE));
      part.dispose();
      return values;
    });
    expect(parts.flat()).toEqual(whole);
    x.dispose();
  });

  it('refuse a rate outside [0, 1) and keep site keys of distinct names apart', () => {
    const x = tf.ones([2, 2]);
    expect(() => perImageDropout(x, 1, { seed: 1, imageOffset: 0 }, SITE)).toThrow(ConfigError);
    expect(() => perImageDropout(x, -0.1, { seed: 1, imageOffset: 0 }, SITE)).toThrow(/^rate must be a finite number in \[0, 1\), got -0.1$/);
    x.dispose();
    expect(randomSite('vit-core/drop-path')).toBe(randomSite('vit-core/drop-path'));
    const names = ['vit-core/drop-path', 'adapter-methods/adaptformer-dropout', 'prompt-methods/prompt-dropout', 'prompt-methods/gumbel-gate', 'query-tuning/query-dropout'];
    expect(new Set(names.map(randomSite)).size).toBe(names.length);
  });
});

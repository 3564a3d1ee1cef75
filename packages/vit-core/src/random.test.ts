import { describe, expect, it } from 'vitest';
import { SeededRandom, deriveSeed } from './random';

describe('SeededRandom', () => {
  it('repeats for a seed, differs across seeds, stays in [0, 1) and is roughly uniform', () => {
    const draw = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 2000 }, () => random.uniform());
    };
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
    const values = draw(1);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    const buckets = new Array(10).fill(0);
    values.forEach((value) => buckets[Math.floor(value * 10)]++);
    buckets.forEach((count) => expect(Math.abs(count - 200)).toBeLessThan(60));
  });

  it('resumes exactly from its state, as a checkpoint restores it', () => {
    const random = new SeededRandom(2 ** 40 + 3);
    Array.from({ length: 17 }, () => random.nextUint32());
    const resumed = SeededRandom.fromState(random.state);
    expect(Array.from({ length: 5 }, () => resumed.nextSeed())).toEqual(Array.from({ length: 5 }, () => random.nextSeed()));
    expect(new SeededRandom(2 ** 40 + 3).nextUint32()).not.toBe(new SeededRandom(3).nextUint32());
  });

  it('draws integers at both ends, permutations of every index, and normals of the right moments', () => {
    const random = new SeededRandom(9);
    const integers = Array.from({ length: 1000 }, () => random.integer(2, 4));
    expect(new Set(integers)).toEqual(new Set([2, 3, 4]));
    expect(Array.from(random.permutation(50)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const normals = Array.from({ length: 4000 }, () => random.gauss(1, 2));
    const mean = normals.reduce((a, b) => a + b, 0) / normals.length;
    const variance = normals.reduce((a, b) => a + (b - mean) ** 2, 0) / normals.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.1);
    expect(Math.abs(Math.sqrt(variance) - 2)).toBeLessThan(0.1);
    expect(random.nextSeed()).toBeLessThan(2 ** 31);
  });

  it('refuses seeds that are not integers >= 0, and derives distinct seeds from parts', () => {
    expect(() => new SeededRandom(-1)).toThrow(/seed must be an integer >= 0, got -1/);
    expect(() => new SeededRandom(0.5)).toThrow(/seed must be an integer >= 0, got 0.5/);
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(1, 2 ** 33)).not.toBe(deriveSeed(1, 0));
  });
});

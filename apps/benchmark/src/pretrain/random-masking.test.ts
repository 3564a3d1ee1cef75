import { ConfigError, SeededRandom } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { randomMasking } from './random-masking';

describe('randomMasking', () => {
  it('keeps floor(N * (1 - ratio)) patches per image, each image a permutation of its own', () => {
    const masking = randomMasking(6, 49, 0.75, new SeededRandom(3));
    expect(masking.keepCount).toBe(12);
    const orders: string[] = [];
    for (let sample = 0; sample < 6; sample++) {
      const keep = [...masking.keep.subarray(sample * 12, (sample + 1) * 12)];
      const mask = [...masking.mask.subarray(sample * 49, (sample + 1) * 49)];
      const restore = [...masking.restore.subarray(sample * 49, (sample + 1) * 49)];
      expect(new Set(keep).size).toBe(12);
      expect(mask.filter((value) => value === 1)).toHaveLength(37);
      // Visible exactly where the mask is 0.
      mask.forEach((value, patch) => expect(value === 0).toBe(keep.includes(patch)));
      // restore is a permutation of 0..N-1 whose first keepCount positions hold the kept patches, in keep's order.
      expect([...restore].sort((a, b) => a - b)).toEqual(Array.from({ length: 49 }, (_, i) => i));
      keep.forEach((patch, position) => expect(restore[patch]).toBe(position));
      orders.push(keep.join());
    }
    expect(new Set(orders).size).toBe(6);
  });

  it('is a function of the generator: same seed, same masks', () => {
    const a = randomMasking(4, 16, 0.75, new SeededRandom(7));
    const b = randomMasking(4, 16, 0.75, new SeededRandom(7));
    expect(b.keep).toEqual(a.keep);
    expect(b.mask).toEqual(a.mask);
    expect(randomMasking(4, 16, 0.75, new SeededRandom(8)).keep).not.toEqual(a.keep);
  });

  it('draws every patch position as visible about equally often', () => {
    const masking = randomMasking(4000, 16, 0.75, new SeededRandom(1));
    const counts = new Array<number>(16).fill(0);
    masking.keep.forEach((patch) => (counts[patch]! += 1));
    // Each patch is visible with probability 1/4: 1000 of 4000, binomial std about 27.
    counts.forEach((count) => expect(Math.abs(count - 1000)).toBeLessThan(150));
  });

  it('names the field of bad input', () => {
    expect(() => randomMasking(0, 16, 0.75, new SeededRandom(0))).toThrow(new ConfigError('batch', 0, 'must be a positive integer'));
    expect(() => randomMasking(2, 16, 1, new SeededRandom(0))).toThrow(/maskRatio must be in \[0, 1\), got 1/);
    expect(() => randomMasking(2, 2, 0.75, new SeededRandom(0))).toThrow(/maskRatio must leave at least one of the 2 patches visible, got 0.75/);
  });
});

import { describe, expect, it } from 'vitest';
import { batchPoolKernel, poolBatchTokens, poolWindowStarts, poolWindows } from './pool-windows';

/** numTokens tokens of 2 channels: token t holds (t, -t). */
const ramp = (numTokens: number) => Float32Array.from({ length: 2 * numTokens }, (_, i) => (i % 2 === 0 ? 1 : -1) * Math.floor(i / 2) + 0);

describe('poolBatchTokens (SPT mean / max pooling of a batch)', () => {
  it('pools the batch’s N_e * B tokens with a kernel of floor(N_e * B / N_p), windows spanning images', () => {
    // Two images of 5 tokens: 10 tokens, P = 3, kernel floor(10 / 3) = 3; windows 0-2, 3-5 (image 1's
    // tokens 3, 4 and image 2's first), 6-8; token 9 is left out.
    expect(batchPoolKernel(10, 3)).toBe(3);
    expect(Array.from(poolBatchTokens(ramp(10), 10, 2, 3, 'mean'))).toEqual([1, -1, 4, -4, 7, -7]);
    expect(Array.from(poolBatchTokens(ramp(10), 10, 2, 3, 'max'))).toEqual([2, 0, 5, -3, 8, -6]);
    // Exactly divisible: every token in one window.
    expect(Array.from(poolBatchTokens(ramp(6), 6, 2, 2, 'mean'))).toEqual([1, -1, 4, -4]);
  });

  it('gives ViT-B/16 with a batch of 32 a kernel of 62 tokens for 100 prompts (where per-image windows were 1 token)', () => {
    expect(batchPoolKernel(196 * 32, 100)).toBe(62);
    expect(batchPoolKernel(196 * 32, 20)).toBe(313);
    const pooled = poolBatchTokens(ramp(196 * 32), 196 * 32, 2, 100, 'mean');
    expect(pooled).toHaveLength(200);
    expect(pooled[2 * 99]).toBe((99 * 62 + 100 * 62 - 1) / 2); // tokens 6138 .. 6199; 6200 .. 6271 left out
  });

  it('refuses more prompts than tokens or fewer than one, naming numPrompts, and too few values', () => {
    expect(() => batchPoolKernel(10, 11)).toThrow(/^numPrompts must not exceed the tokens of the batch \(10\) for pooled prompts, got 11$/);
    expect(() => batchPoolKernel(10, 0)).toThrow(/^numPrompts must be an integer >= 1, got 0$/);
    expect(batchPoolKernel(10, 10)).toBe(1);
    expect(() => poolBatchTokens(ramp(4), 5, 2, 2, 'mean')).toThrow(/^tokens must hold 5 x 2 values, got 8$/);
  });
});

describe('poolWindows (deprecated per-image windows)', () => {
  it('uses P - 1 windows of floor(N / (P - 1)) tokens plus a remainder window', () => {
    // N = 16, P = 6: windows of 3 at 0, 3, 6, 9, 12 and the remainder [15].
    expect(poolWindowStarts(16, 6)).toEqual([0, 3, 6, 9, 12, 15]);
    const mean = poolWindows(ramp(16), 16, 2, 6, 'mean');
    expect(Array.from(mean)).toEqual([1, -1, 4, -4, 7, -7, 10, -10, 13, -13, 15, -15]);
    const max = poolWindows(ramp(16), 16, 2, 6, 'max');
    expect(Array.from(max)).toEqual([2, 0, 5, -3, 8, -6, 11, -9, 14, -12, 15, -15]);
  });

  it('has no remainder window when P - 1 divides N, and a long one for ViT-B with 100 prompts', () => {
    expect(poolWindowStarts(16, 5)).toEqual([0, 4, 8, 12]);
    expect(Array.from(poolWindows(ramp(16), 16, 2, 5, 'mean'))).toEqual([1.5, -1.5, 5.5, -5.5, 9.5, -9.5, 13.5, -13.5]);
    const starts = poolWindowStarts(196, 100);
    expect(starts).toHaveLength(100);
    expect(starts.slice(0, 3)).toEqual([0, 1, 2]);
    expect(starts.at(-1)).toBe(99); // the last window holds tokens 99 .. 195
    const pooled = poolWindows(ramp(196), 196, 2, 100, 'mean');
    expect(pooled[2 * 99]).toBe((99 + 195) / 2);
  });

  it('refuses fewer than 2 prompts or more than N + 1, naming numPrompts', () => {
    expect(() => poolWindowStarts(16, 1)).toThrow(/^numPrompts must be at least 2 for pooled prompts .*got 1$/);
    expect(() => poolWindowStarts(16, 18)).toThrow(/^numPrompts must be at most the number of tokens \+ 1 \(17\) for pooled prompts, got 18$/);
    expect(poolWindowStarts(16, 17)).toHaveLength(16);
  });
});

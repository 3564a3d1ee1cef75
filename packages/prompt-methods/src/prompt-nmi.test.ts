import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { tinyModel } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blockInputTokens, normalizedMutualInformation, promptNmiAtBlock, promptPatchNmi } from './prompt-nmi';
import { createVpt } from './prompt-tuning';

let tensorsBefore: number;
beforeEach(() => (tensorsBefore = tf.memory().numTensors));
afterEach(() => expect(tf.memory().numTensors, 'tensors left').toBe(tensorsBefore));

/** n vectors of a regular simplex in R^n (one-hot minus the centroid), scaled by s: distinct ones have negative dot products. */
const simplex = (n: number, s: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => s * ((i === j ? 1 : 0) - 1 / n)));

describe('promptPatchNmi', () => {
  it('is 0 when prompts and patches are independent (every logit equal: a uniform joint)', () => {
    // Prompts in the first two coordinates, patches in the last two: every dot product is 0.
    const prompts = tf.tensor2d([[1, 2, 0, 0], [-3, 1, 0, 0], [0.5, 0.5, 0, 0]]);
    const patches = tf.tensor3d([[[0, 0, 1, 4], [0, 0, -2, 1]], [[0, 0, 3, 3], [0, 0, 1, -1]]]);
    const nmi = promptPatchNmi(prompts, patches);
    expect(Array.from(nmi.perImage)).toEqual([0, 0]);
    expect(nmi.mean).toBe(0);
    tf.dispose([prompts, patches]);
  });

  it('is 1 when each prompt is paired with exactly one patch and vice versa, under both normalisations', () => {
    const vectors = simplex(4, 20); // matching logits 300, others -100: sigmoid 1 and 4e-44
    const prompts = tf.tensor2d(vectors);
    const patches = tf.tensor3d([vectors]);
    for (const normalization of ['min', 'geometric'] as const) {
      expect(promptPatchNmi(prompts, patches, { scale: 1, normalization }).mean).toBeCloseTo(1, 6);
    }
    tf.dispose([prompts, patches]);
  });

  it('normalises by min(H(P), H(E)) by default and by sqrt(H(P) H(E)) as the option', () => {
    // Two prompts, four patches, each patch paired with one prompt: I = H(P) = log 2, H(E) = log 4.
    const prompts = tf.tensor2d([[10], [-10]]);
    const patches = tf.tensor3d([[[10], [10], [-10], [-10]]]);
    expect(promptPatchNmi(prompts, patches, { scale: 1 }).mean).toBeCloseTo(1, 6);
    expect(promptPatchNmi(prompts, patches, { scale: 1, normalization: 'geometric' }).mean).toBeCloseTo(Math.log(2) / Math.sqrt(Math.log(2) * Math.log(4)), 6);
    tf.dispose([prompts, patches]);
  });

  it('takes per-image prompts [B, P, D] as well as shared ones [P, D]', () => {
    const shared = tf.randomNormal([3, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const patches = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 2) as tf.Tensor3D;
    const perImage = tf.stack([shared, shared]) as tf.Tensor3D;
    expect(promptPatchNmi(perImage, patches).perImage).toEqual(promptPatchNmi(shared, patches).perImage);
    const wrong = tf.zeros([3, 5]) as tf.Tensor2D;
    expect(() => promptPatchNmi(wrong, patches)).toThrow(ShapeError);
    expect(() => promptPatchNmi(shared, patches, { normalization: 'max' as never })).toThrow(/^normalization must be one of min, geometric, got "max"$/);
    expect(() => promptPatchNmi(shared, patches, { scale: 0 })).toThrow(/^scale must be a finite number > 0, got 0$/);
    tf.dispose([shared, patches, perImage, wrong]);
  });
});

describe('normalizedMutualInformation', () => {
  it('is 0 for a single prompt (no information to share)', () => {
    expect(normalizedMutualInformation(Float64Array.from([0.25, 0.25, 0.5]), 1, 3)).toBe(0);
  });
});

describe('promptNmiAtBlock', () => {
  it('measures a method’s prompts (its token slots) and the patches entering a block of the model with its methods attached', () => {
    const model = tinyModel();
    const images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 3) as tf.Tensor4D;
    const method = createVpt(model, { numPrompts: 3, deep: true, seed: 1 });
    model.attach(method);
    for (const block of [0, 1]) {
      const tokens = blockInputTokens(model, images, block);
      const [prompts, patches] = tf.tidy(() => tf.split(tf.slice(tokens, [0, 1, 0], [-1, -1, -1]), [3, 16], 1)) as [tf.Tensor3D, tf.Tensor3D];
      const measured = promptNmiAtBlock(model, images, { method, block });
      expect(measured).toEqual(promptPatchNmi(prompts, patches));
      expect(measured.mean).toBeGreaterThan(0);
      // The deprecated form (prompts right after CLS) still gives the same for a method alone.
      expect(promptNmiAtBlock(model, images, { numPrompts: 3, block })).toEqual(measured);
      tf.dispose([tokens, prompts, patches]);
    }
    expect(() => promptNmiAtBlock(model, images, { numPrompts: 4 })).toThrow(/^block 0 receives 20 tokens, not 1 prefix \+ 4 prompts \+ 16 patches$/);
    expect(() => promptNmiAtBlock(model, images, { method, block: 2 })).toThrow(ConfigError);
    expect(() => promptNmiAtBlock(model, images, { method, block: 2 })).toThrow(/^block must be a block index in \[0, 1\], got 2$/);
    expect(() => promptNmiAtBlock(model, images, { method, numPrompts: 3 })).toThrow(/^numPrompts must not be given with method/);
    expect(() => promptNmiAtBlock(model, images, {})).toThrow(/^method must name the prompt method whose tokens are measured/);
    expect(() => model.disableExtensions(() => promptNmiAtBlock(model, images, { method }), [method])).toThrow(/^method must insert tokens and be switched on/);
    const detached = createVpt(model, { numPrompts: 3 });
    expect(() => promptNmiAtBlock(model, images, { method: detached })).toThrow(/^extension is not attached, got "vpt-shallow"/);
    expect(model.extensions).toEqual([method]);
    model.detach(method);
    [method, detached].forEach((m) => m.dispose());
    model.dispose();
    images.dispose();
  });
});

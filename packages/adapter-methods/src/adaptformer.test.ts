import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { Recorder, expectConfigError, maxAbsDiff, perturb, siteKey, useTinyModel } from './__fixtures__/test-kit';
import type { AdaptFormerConfigInput } from './adaptformer';
import { ADAPTFORMER_LAYER_NORMS, AdaptFormerConfig, createAdaptFormer } from './adaptformer';

/** LayerNorm over the last axis with torch's default eps, written out independently. */
function referenceLayerNorm(x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), gain), bias);
}

describe('adaptformer', () => {
  const kit = useTinyModel();

  /** Logits of a pass with an AdaptFormer whose zero parts were moved off zero. */
  function withBranch(config: AdaptFormerConfigInput, options: { training?: boolean; seed?: number } = {}, perturbSeed = 11): tf.Tensor2D {
    const method = createAdaptFormer(kit.model, config);
    perturb(method.trainableVariables(), 0.2, perturbSeed);
    kit.model.attach(method);
    const logits = kit.model.forward(kit.input, options);
    kit.model.detach(method);
    method.dispose();
    return logits;
  }

  for (const layerNorm of ADAPTFORMER_LAYER_NORMS) {
    it(`adds scale * up(ReLU(down(x))) from the MLP's input stream to its output (layerNorm ${layerNorm})`, () => {
      const method = createAdaptFormer(kit.model, { bottleneck: 6, scale: 0.3, layerNorm });
      perturb(method.trainableVariables(), 0.2, 3);
      const before = new Recorder('before');
      const after = new Recorder('after');
      [before, method, after].forEach((extension) => kit.model.attach(extension));
      tf.dispose(kit.model.forward(kit.input));
      const weights = method.weights();
      for (const block of kit.model.blocks) {
        const { input: stream, output: mlp } = before.branch.get(siteKey('mlp', block.index))!;
        const expected = tf.tidy(() => {
          const w = (name: string) => weights.get(`blocks.${block.index}.adaptformer.${name}`)!;
          let rows = tf.reshape(stream, [-1, 32]);
          if (layerNorm === 'in') rows = referenceLayerNorm(rows, w('norm.weight'), w('norm.bias'));
          const hidden = tf.relu(tf.add(tf.matMul(rows, w('down.weight')), w('down.bias')));
          let branch = tf.mul(tf.add(tf.matMul(hidden, w('up.weight')), w('up.bias')), 0.3);
          if (layerNorm === 'out') branch = referenceLayerNorm(branch, w('norm.weight'), w('norm.bias'));
          return tf.add(mlp, tf.reshape(branch, mlp.shape));
        });
        const actual = after.branch.get(siteKey('mlp', block.index))!.output;
        expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5);
        expect(maxAbsDiff(actual, mlp)).toBeGreaterThan(1e-3);
        const attn = [before, after].map((recorder) => recorder.branch.get(siteKey('attn', block.index))!.output);
        expect(maxAbsDiff(attn[0]!, attn[1]!)).toBe(0);
        expected.dispose();
      }
      [before, method, after].forEach((extension) => kit.model.detach(extension));
      tf.dispose([...weights.values()]);
      [before, after, method].forEach((extension) => extension.dispose());
    });

    it(`starts exactly at the pretrained function (layerNorm ${layerNorm})`, () => {
      const pretrained = kit.model.forward(kit.input);
      const method = createAdaptFormer(kit.model, { layerNorm });
      kit.model.attach(method);
      const start = kit.model.forward(kit.input);
      expect(maxAbsDiff(pretrained, start)).toBe(0);
      kit.model.detach(method);
      method.dispose();
      tf.dispose([pretrained, start]);
    });
  }

  it('initialises as LoRA: down kaiming-uniform, up and biases zero, norm gain 1 and bias 0', () => {
    const method = createAdaptFormer(kit.model, { bottleneck: 64, layerNorm: 'in' });
    const weights = method.weights();
    const bound = 1 / Math.sqrt(32);
    for (const [name, tensor] of weights) {
      const values = tensor.dataSync();
      if (name.endsWith('down.weight')) {
        // 2048 uniform samples per block: their std is bound / sqrt(3) within a few percent.
        expect(values.every((value) => Math.abs(value) <= bound), name).toBe(true);
        const std = tf.tidy(() => Math.sqrt(tf.moments(tensor).variance.dataSync()[0]!));
        expect(Math.abs(std / (bound / Math.sqrt(3)) - 1), name).toBeLessThan(0.1);
      } else {
        const expected = name.endsWith('norm.weight') ? 1 : 0;
        expect(values.every((value) => value === expected), name).toBe(true);
      }
    }
    expect(method.numParameters()).toBe(2 * (32 * 64 + 64 + 64 * 32 + 32 + 2 * 32));
    tf.dispose([...weights.values()]);
    method.dispose();
  });

  it('drops hidden units in training passes only, reproducibly for a seeded pass', () => {
    const evaluation = withBranch({ bottleneck: 8 });
    const seeded = withBranch({ bottleneck: 8 }, { training: true, seed: 4 });
    const seededAgain = withBranch({ bottleneck: 8 }, { training: true, seed: 4 });
    const otherSeed = withBranch({ bottleneck: 8 }, { training: true, seed: 5 });
    const noDropout = withBranch({ bottleneck: 8, dropout: 0 }, { training: true, seed: 4 });
    expect(maxAbsDiff(seeded, evaluation)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(seeded, seededAgain)).toBe(0);
    expect(maxAbsDiff(seeded, otherSeed)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(noDropout, evaluation)).toBe(0);
    tf.dispose([evaluation, seeded, seededAgain, otherSeed, noDropout]);
  });

  it('draws each image’s dropout mask by its place in the batch, so micro-batches give the whole batch’s logits', () => {
    const method = createAdaptFormer(kit.model, { bottleneck: 8, dropout: 0.5 });
    perturb(method.trainableVariables(), 0.2, 11);
    kit.model.attach(method);
    const whole = kit.model.forward(kit.input, { training: true, seed: 4 });
    const rows = [0, 1].map((image) =>
      tf.tidy(() => kit.model.forward(tf.slice(kit.input, [image, 0, 0, 0], [1, -1, -1, -1]), { training: true, seed: 4, imageOffset: image })),
    );
    const split = tf.concat(rows);
    expect(maxAbsDiff(split, whole)).toBeLessThan(1e-6);
    // The second image drawn as the batch's first gets another mask.
    const misplaced = tf.tidy(() => kit.model.forward(tf.slice(kit.input, [1, 0, 0, 0], [1, -1, -1, -1]), { training: true, seed: 4 }));
    expect(maxAbsDiff(misplaced, rows[1]!)).toBeGreaterThan(1e-4);
    kit.model.detach(method);
    method.dispose();
    tf.dispose([whole, ...rows, split, misplaced]);
  });

  it('scales the branch linearly by `scale` (no LayerNorm)', () => {
    const features = (scale: number) => {
      const method = createAdaptFormer(kit.model, { bottleneck: 8, scale });
      perturb(method.trainableVariables(), 0.2, 21);
      const recorder = new Recorder('after');
      [method, recorder].forEach((extension) => kit.model.attach(extension));
      tf.dispose(kit.model.forward(kit.input));
      [method, recorder].forEach((extension) => kit.model.detach(extension));
      method.dispose();
      return recorder;
    };
    const small = features(0.01);
    const large = features(0.02);
    const plain = new Recorder('plain');
    kit.model.attach(plain);
    tf.dispose(kit.model.forward(kit.input));
    kit.model.detach(plain);
    // Block 0's MLP sees the same input either way, so its branch delta doubles with the scale (to rounding).
    const key = siteKey('mlp', 0);
    const doubled = tf.tidy(() =>
      maxAbsDiff(tf.sub(large.branch.get(key)!.output, plain.branch.get(key)!.output), tf.mul(tf.sub(small.branch.get(key)!.output, plain.branch.get(key)!.output), 2)),
    );
    expect(doubled).toBeLessThan(1e-5);
    [small, large, plain].forEach((recorder) => recorder.dispose());
  });

  it('adds depth * (D r + r + r D + D) parameters, plus 2 D per block with a LayerNorm', () => {
    const wide = tinyModel({ ...TINY_VIT, embedDim: 48, depth: 3, numHeads: 4 });
    const plain = createAdaptFormer(wide, { bottleneck: 5 });
    const normed = createAdaptFormer(wide, { bottleneck: 5, layerNorm: 'out' });
    expect(plain.numParameters()).toBe(3 * (48 * 5 + 5 + 5 * 48 + 48));
    expect(normed.numParameters()).toBe(3 * (48 * 5 + 5 + 5 * 48 + 48 + 2 * 48));
    [plain, normed, wide].forEach((owner) => owner.dispose());
  });

  it('validates its config, naming the field', () => {
    expect(new AdaptFormerConfig().toJSON()).toEqual({ bottleneck: 64, scale: 0.1, dropout: 0.1, layerNorm: 'none', seed: 0 });
    const refuse = (input: Record<string, unknown>, pattern: RegExp) => expectConfigError((fields) => new AdaptFormerConfig(fields), input, pattern);
    refuse({ bottleneck: -64 }, /^bottleneck must be an integer >= 1, got -64$/);
    refuse({ scale: 0 }, /^scale must be a finite number > 0, got 0$/);
    refuse({ scale: 'learnable_scalar' }, /^scale must be a finite number > 0, got "learnable_scalar"$/);
    refuse({ dropout: 1 }, /^dropout must be a finite number in \[0, 1\), got 1$/);
    refuse({ dropout: -0.1 }, /^dropout must be a finite number in \[0, 1\), got -0.1$/);
    refuse({ layerNorm: 'before' }, /^layerNorm must be one of none, in, out, got "before"$/);
    refuse({ seed: '1' }, /^seed must be an integer, got "1"$/);
    refuse({ ffnNum: 64 }, /^adaptformer.ffnNum is not an option \(options: bottleneck, scale, dropout, layerNorm, seed\), got 64$/);
  });
});

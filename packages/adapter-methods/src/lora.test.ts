import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { ConfigError, ShapeError, getStateDict } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { Recorder, expectConfigError, maxAbsDiff, perturb, siteKey, useTinyModel } from './__fixtures__/test-kit';
import { LoraConfig, createLora, mergeLora, unmergeLora } from './lora';
import { mergedInto } from './merge-state';

const DIM = 32;

describe('lora', () => {
  const kit = useTinyModel();

  it('starts exactly at the pretrained function (B = 0)', () => {
    const pretrained = kit.model.forward(kit.input);
    const lora = createLora(kit.model);
    kit.model.attach(lora);
    const start = kit.model.forward(kit.input);
    expect(maxAbsDiff(pretrained, start)).toBe(0);
    kit.model.detach(lora);
    lora.dispose();
    tf.dispose([pretrained, start]);
  });

  it('adds x A B * alpha / r to the q and v thirds of the qkv output and leaves k alone', () => {
    const lora = createLora(kit.model, { rank: 2, alpha: 6 });
    perturb(lora.trainableVariables(), 0.3, 7);
    const before = new Recorder('before');
    const after = new Recorder('after');
    [before, lora, after].forEach((extension) => kit.model.attach(extension));
    tf.dispose(kit.model.forward(kit.input));
    const weights = lora.weights();
    for (const block of kit.model.blocks) {
      const { input: x, output: qkv } = before.linear.get(siteKey('attn.qkv', block.index))!;
      const adapted = after.linear.get(siteKey('attn.qkv', block.index))!.output;
      const [q, k, v] = tf.tidy(() => tf.split(tf.sub(adapted, qkv), 3, 1));
      const update = (which: string) =>
        tf.tidy(() => {
          const w = (name: string) => weights.get(`blocks.${block.index}.attn.${which}.${name}`)!;
          return tf.mul(tf.matMul(tf.matMul(x, w('lora_A')), w('lora_B')), 6 / 2);
        });
      const [expectedQ, expectedV] = [update('q'), update('v')];
      expect(maxAbsDiff(q!, expectedQ)).toBeLessThan(1e-5);
      expect(maxAbsDiff(v!, expectedV)).toBeLessThan(1e-5);
      const largest = (tensor: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tensor)).dataSync()[0]!);
      expect(largest(q!)).toBeGreaterThan(1e-3);
      expect(largest(v!)).toBeGreaterThan(1e-3);
      expect(largest(k!)).toBe(0);
      tf.dispose([q, k, v, expectedQ, expectedV]);
    }
    [before, lora, after].forEach((extension) => kit.model.detach(extension));
    tf.dispose([...weights.values()]);
    [before, after, lora].forEach((extension) => extension.dispose());
  });

  it('initialises A kaiming-uniform over its D inputs (peft) and B to zero, [D, r] and [r, D]', () => {
    const lora = createLora(kit.model, { rank: 16 });
    const weights = lora.weights();
    const bound = 1 / Math.sqrt(DIM);
    expect([...weights.keys()].slice(0, 4)).toEqual(['blocks.0.attn.q.lora_A', 'blocks.0.attn.q.lora_B', 'blocks.0.attn.v.lora_A', 'blocks.0.attn.v.lora_B']);
    for (const [name, tensor] of weights) {
      const values = tensor.dataSync();
      if (name.endsWith('lora_A')) {
        expect(tensor.shape).toEqual([DIM, 16]);
        expect(values.every((value) => Math.abs(value) <= bound), name).toBe(true);
        const std = tf.tidy(() => Math.sqrt(tf.moments(tensor).variance.dataSync()[0]!));
        expect(Math.abs(std / (bound / Math.sqrt(3)) - 1), name).toBeLessThan(0.1);
      } else {
        expect(tensor.shape).toEqual([16, DIM]);
        expect(values.every((value) => value === 0), name).toBe(true);
      }
    }
    tf.dispose([...weights.values()]);
    lora.dispose();
  });

  it('adds depth * 2 * (D r + r D) parameters', () => {
    const wide = tinyModel({ ...TINY_VIT, embedDim: 48, depth: 3, numHeads: 4 });
    const lora = createLora(wide, { rank: 5 });
    expect(lora.numParameters()).toBe(3 * 2 * (48 * 5 + 5 * 48));
    [lora, wide].forEach((owner) => owner.dispose());
  });

  describe('merging', () => {
    const scaleOf = (logits: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(logits)).dataSync()[0]!);

    it('writes the update into the qkv weights only: the model alone gives the adapted logits, and unmerging restores it', () => {
      const lora = createLora(kit.model, { rank: 4, alpha: 8 });
      perturb(lora.trainableVariables(), 0.3, 9);
      const original = getStateDict(kit.model);
      kit.model.attach(lora);
      const adapted = kit.model.forward(kit.input);
      mergeLora(kit.model, lora);
      expect(kit.model.extensions).not.toContain(lora);
      expect(mergedInto(lora)).toBe(kit.model);
      const merged = kit.model.forward(kit.input);
      // Float rounding only: the merged product x (W + A B s) against x W + (x A) B s.
      expect(maxAbsDiff(merged, adapted)).toBeLessThan(1e-4 * (1 + scaleOf(adapted)));
      for (const [key, value] of getStateDict(kit.model)) {
        if (key.endsWith('attn.qkv.weight')) expect(value.data, key).not.toEqual(original.get(key)!.data);
        else expect(value.data, key).toEqual(original.get(key)!.data);
      }

      unmergeLora(kit.model, lora);
      expect(kit.model.extensions).toContain(lora);
      expect(mergedInto(lora)).toBeUndefined();
      for (const [key, value] of getStateDict(kit.model)) {
        const before = original.get(key)!.data as Float32Array;
        const largest = (value.data as Float32Array).reduce((worst, entry, index) => Math.max(worst, Math.abs(entry - before[index]!)), 0);
        expect(largest, key).toBeLessThan(1e-6);
      }
      const again = kit.model.forward(kit.input);
      expect(maxAbsDiff(again, adapted)).toBeLessThan(1e-4 * (1 + scaleOf(adapted)));
      kit.model.detach(lora);
      lora.dispose();
      tf.dispose([adapted, merged, again]);
    });

    it('refuses to merge twice, to unmerge what is not merged, and to run a merged method as hooks', () => {
      const lora = createLora(kit.model, { rank: 2 });
      expect(() => unmergeLora(kit.model, lora)).toThrow(ConfigError);
      expect(() => unmergeLora(kit.model, lora)).toThrow(/^method is not merged into this model \(mergeLora merges it\), got "lora"$/);
      mergeLora(kit.model, lora);
      expect(() => mergeLora(kit.model, lora)).toThrow(/^method is merged already, got "lora"$/);
      kit.model.attach(lora);
      expect(() => kit.model.forward(kit.input)).toThrow(/^method is merged into the backbone weights, so it must not be attached as well, got "lora"$/);
      kit.model.detach(lora);
      lora.dispose();
    });

    it('refuses a model of another shape before writing anything', () => {
      const other = tinyModel({ ...TINY_VIT, depth: 3 });
      const lora = createLora(other, { rank: 2 });
      const original = getStateDict(kit.model);
      expect(() => mergeLora(kit.model, lora)).toThrow(ShapeError);
      expect(() => mergeLora(kit.model, lora)).toThrow(/^lora was built for 3 blocks of width 32; the model has 2 blocks of width 32$/);
      for (const [key, value] of getStateDict(kit.model)) expect(value.data, key).toEqual(original.get(key)!.data);
      expect(mergedInto(lora)).toBeUndefined();
      [lora, other].forEach((owner) => owner.dispose());
    });
  });

  it('validates its config, naming the field', () => {
    expect(new LoraConfig().toJSON()).toEqual({ rank: 8, alpha: 8, seed: 0 });
    expect(new LoraConfig({ rank: 4 }).toJSON()).toEqual({ rank: 4, alpha: 4, seed: 0 });
    const refuse = (input: Record<string, unknown>, pattern: RegExp) => expectConfigError((fields) => new LoraConfig(fields), input, pattern);
    refuse({ rank: 0 }, /^rank must be an integer >= 1, got 0$/);
    refuse({ rank: 2.5 }, /^rank must be an integer >= 1, got 2.5$/);
    refuse({ alpha: -8 }, /^alpha must be a finite number > 0, got -8$/);
    refuse({ alpha: Number.POSITIVE_INFINITY }, /^alpha must be a finite number > 0, got Infinity$/);
    refuse({ seed: true }, /^seed must be an integer, got true$/);
    refuse({ r: 8 }, /^lora.r is not an option \(options: rank, alpha, seed\), got 8$/);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import type { VitConfigInput } from '@visual-peft/vit-core';
import { ConfigError, getStateDict } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Recorder, expectConfigError, images, maxAbsDiff, perturb, siteKey } from './__fixtures__/test-kit';
import { mergedInto } from './merge-state';
import { SsfConfig, createSsf, mergeSsf } from './ssf';

const BLOCK_LAYERS = ['norm1', 'attn.qkv', 'attn.proj', 'norm2', 'mlp.fc1', 'mlp.fc2'];
const AVG_POOL: VitConfigInput = { ...TINY_VIT, globalPool: 'avg' };

describe('ssf', () => {
  let tensorsBefore: number;
  let input: tf.Tensor4D;

  beforeEach(() => {
    tensorsBefore = tf.memory().numTensors;
    input = images(2, 32, 5);
  });
  afterEach(() => {
    input.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('follows the patch projection, every block’s six operations and the final norm, as SSF’s code does', () => {
    const expectedKeys = (finalNorm: string) => [
      'patch_embed.proj',
      ...[0, 1].flatMap((block) => BLOCK_LAYERS.map((layer) => `blocks.${block}.${layer}`)),
      finalNorm,
    ];
    for (const [config, finalNorm] of [[TINY_VIT, 'norm'], [AVG_POOL, 'fc_norm']] as const) {
      const model = tinyModel(config);
      const ssf = createSsf(model);
      expect(ssf.targets.map((target) => target.key)).toEqual(expectedKeys(finalNorm));
      // Channels: 3D after qkv, 4D after fc1, D everywhere else.
      expect(ssf.numParameters()).toBe(2 * (32 + 2 * (32 + 96 + 32 + 32 + 128 + 32) + 32));
      ssf.dispose();
      model.dispose();
    }
  });

  it('scales and shifts exactly those outputs, y * gamma + beta per channel, and leaves the head alone', () => {
    const model = tinyModel(AVG_POOL);
    const ssf = createSsf(model, { initStd: 0.3 });
    const before = new Recorder('before');
    const after = new Recorder('after');
    [before, ssf, after].forEach((extension) => model.attach(extension));
    tf.dispose(model.forward(input));
    const weights = ssf.weights();
    const site = (key: string): string => {
      const match = /^blocks\.(\d+)\.(.+)$/.exec(key);
      return match === null ? siteKey(key, null) : siteKey(match[2]!, Number(match[1]));
    };
    for (const { key, kind } of ssf.targets) {
      const [seen, changed] = [before, after].map((recorder) => (kind === 'linear' ? recorder.linear.get(site(key))!.output : recorder.norm.get(site(key))!));
      const expected = tf.tidy(() => tf.add(tf.mul(seen!, weights.get(`${key}.ssf_scale`)!), weights.get(`${key}.ssf_shift`)!));
      expect(maxAbsDiff(changed!, expected), key).toBeLessThan(1e-5);
      expect(maxAbsDiff(changed!, seen!), key).toBeGreaterThan(1e-3);
      expected.dispose();
    }
    const head = [before, after].map((recorder) => recorder.linear.get(siteKey('head', null))!.output);
    expect(maxAbsDiff(head[0]!, head[1]!)).toBe(0);
    [before, ssf, after].forEach((extension) => model.detach(extension));
    tf.dispose([...weights.values()]);
    [before, after, ssf, model].forEach((owner) => owner.dispose());
  });

  it('draws scales from N(1, initStd) and shifts from N(0, initStd); initStd 0 starts at the pretrained function', () => {
    const model = tinyModel();
    const ssf = createSsf(model);
    const weights = ssf.weights();
    const pooled = (suffix: string) => tf.tidy(() => tf.concat([...weights].filter(([name]) => name.endsWith(suffix)).map(([, tensor]) => tensor)));
    for (const [suffix, mean] of [['ssf_scale', 1], ['ssf_shift', 0]] as const) {
      // 32 + 2 * 352 + 32 = 768 values of each kind: mean and std within a few percent of the std.
      const values = pooled(suffix);
      const moments = tf.tidy(() => tf.moments(values));
      expect(Math.abs(moments.mean.dataSync()[0]! - mean), suffix).toBeLessThan(0.005);
      expect(Math.abs(Math.sqrt(moments.variance.dataSync()[0]!) / 0.02 - 1), suffix).toBeLessThan(0.1);
      tf.dispose([values, moments.mean, moments.variance]);
    }
    tf.dispose([...weights.values()]);
    ssf.dispose();

    const pretrained = model.forward(input);
    const identity = createSsf(model, { initStd: 0 });
    model.attach(identity);
    const start = model.forward(input);
    expect(maxAbsDiff(pretrained, start)).toBe(0);
    model.detach(identity);
    [identity, model].forEach((owner) => owner.dispose());
    tf.dispose([pretrained, start]);
  });

  for (const [label, config] of [['class token and final norm', TINY_VIT], ['average pool and fc_norm', AVG_POOL]] as const) {
    it(`folds into the preceding layers for inference: same logits without the method (${label})`, () => {
      const model = tinyModel(config);
      const ssf = createSsf(model, { initStd: 0.2 });
      perturb(ssf.trainableVariables(), 0.05, 13);
      model.attach(ssf);
      const adapted = model.forward(input);
      mergeSsf(model, ssf);
      expect(model.extensions).not.toContain(ssf);
      expect(mergedInto(ssf)).toBe(model);
      const merged = model.forward(input);
      const scale = tf.tidy(() => tf.max(tf.abs(adapted)).dataSync()[0]!);
      expect(maxAbsDiff(merged, adapted)).toBeLessThan(1e-4 * (1 + scale));
      model.attach(ssf);
      expect(() => model.forward(input)).toThrow(/^method is merged into the backbone weights, so it must not be attached as well, got "ssf"$/);
      model.detach(ssf);
      expect(() => mergeSsf(model, ssf)).toThrow(/^method is merged already, got "ssf"$/);
      [ssf, model].forEach((owner) => owner.dispose());
      tf.dispose([adapted, merged]);
    });
  }

  it('refuses to merge into a qkv without bias, before writing anything', () => {
    const model = tinyModel({ ...TINY_VIT, qkvBias: false });
    const ssf = createSsf(model);
    model.attach(ssf);
    const original = getStateDict(model);
    expect(() => mergeSsf(model, ssf)).toThrow(ConfigError);
    expect(() => mergeSsf(model, ssf)).toThrow(/^qkvBias must be true to merge SSF: the shift after blocks\.0\.attn\.qkv folds into its bias, got false$/);
    for (const [key, value] of getStateDict(model)) expect(value.data, key).toEqual(original.get(key)!.data);
    expect(model.extensions).toContain(ssf);
    expect(mergedInto(ssf)).toBeUndefined();
    model.detach(ssf);
    [ssf, model].forEach((owner) => owner.dispose());
  });

  it('validates its config, naming the field', () => {
    expect(new SsfConfig().toJSON()).toEqual({ initStd: 0.02, seed: 0 });
    const refuse = (input: Record<string, unknown>, pattern: RegExp) => expectConfigError((fields) => new SsfConfig(fields), input, pattern);
    refuse({ initStd: -0.02 }, /^initStd must be a finite number >= 0, got -0.02$/);
    refuse({ initStd: 'normal' }, /^initStd must be a finite number >= 0, got "normal"$/);
    refuse({ seed: 1.5 }, /^seed must be an integer, got 1.5$/);
    refuse({ scale: 1 }, /^ssf.scale is not an option \(options: initStd, seed\), got 1$/);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { Recorder, expectConfigError, maxAbsDiff, siteKey, useTinyModel } from './__fixtures__/test-kit';
import { AdapterConfig, createAdapter } from './adapter';

describe('adapter (Houlsby)', () => {
  const kit = useTinyModel();

  it('adds up(GELU(down(h))) to the MLP branch output h, and leaves the attention branch alone', () => {
    const adapter = createAdapter(kit.model, { bottleneck: 3 });
    const before = new Recorder('before');
    const after = new Recorder('after');
    [before, adapter, after].forEach((extension) => kit.model.attach(extension));
    tf.dispose(kit.model.forward(kit.input));
    const weights = adapter.weights();
    for (const block of kit.model.blocks) {
      const mlpIn = before.branch.get(siteKey('mlp', block.index))!.output;
      const mlpOut = after.branch.get(siteKey('mlp', block.index))!.output;
      const expected = tf.tidy(() => {
        const w = (name: string) => weights.get(`blocks.${block.index}.adapter.${name}`)!;
        const rows = tf.reshape(mlpIn, [-1, 32]);
        const down = tf.add(tf.matMul(rows, w('down.weight')), w('down.bias'));
        const activated = tf.mul(tf.mul(down, 0.5), tf.add(1, tf.erf(tf.div(down, Math.SQRT2))));
        return tf.add(mlpIn, tf.reshape(tf.add(tf.matMul(activated, w('up.weight')), w('up.bias')), mlpIn.shape));
      });
      expect(maxAbsDiff(mlpOut, expected)).toBeLessThan(1e-5);
      expect(maxAbsDiff(mlpOut, mlpIn)).toBeGreaterThan(1e-4);
      const attn = [before, after].map((recorder) => recorder.branch.get(siteKey('attn', block.index))!.output);
      expect(maxAbsDiff(attn[0]!, attn[1]!)).toBe(0);
      expected.dispose();
    }
    [before, adapter, after].forEach((extension) => kit.model.detach(extension));
    tf.dispose([...weights.values()]);
    [before, after, adapter].forEach((extension) => extension.dispose());
  });

  it('draws both projections from N(0, initStd) with zero biases, the same for the same seed', () => {
    const draw = (seed: number, initStd = 0.02) => {
      const adapter = createAdapter(kit.model, { bottleneck: 8, initStd, seed });
      const weights = adapter.weights();
      adapter.dispose();
      return weights;
    };
    const first = draw(0);
    for (const [name, tensor] of first) {
      const values = tensor.dataSync();
      if (name.endsWith('bias')) {
        expect(values.every((value) => value === 0), name).toBe(true);
        continue;
      }
      // 32 * 8 = 256 samples per block's projection: the sample std has a standard error of about
      // 1 / sqrt(2 * 256) = 4.4%, so 20% (4.5 standard errors) separates a right scale from a wrong one.
      const { mean, variance } = tf.tidy(() => {
        const moments = tf.moments(tensor);
        return { mean: moments.mean.dataSync()[0]!, variance: moments.variance.dataSync()[0]! };
      });
      expect(Math.abs(mean), name).toBeLessThan(0.005);
      expect(Math.abs(Math.sqrt(variance) / 0.02 - 1), name).toBeLessThan(0.2);
    }
    const again = draw(0);
    const reseeded = draw(1);
    const wider = draw(0, 0.1);
    const name = 'blocks.1.adapter.up.weight';
    expect(again.get(name)!.dataSync()).toEqual(first.get(name)!.dataSync());
    expect(reseeded.get(name)!.dataSync()).not.toEqual(first.get(name)!.dataSync());
    expect(tf.tidy(() => maxAbsDiff(wider.get(name)!, tf.mul(first.get(name)!, 5)))).toBeLessThan(1e-6);
    tf.dispose([first, again, reseeded, wider].flatMap((weights) => [...weights.values()]));
  });

  it('starts near the pretrained function but not at it (the code’s init, not the zero init)', () => {
    const pretrained = kit.model.forward(kit.input);
    const adapter = createAdapter(kit.model);
    kit.model.attach(adapter);
    const adapted = kit.model.forward(kit.input);
    const difference = maxAbsDiff(pretrained, adapted);
    expect(difference).toBeGreaterThan(0);
    expect(difference).toBeLessThan(0.1 * tf.tidy(() => tf.max(tf.abs(pretrained)).dataSync()[0]!));
    kit.model.detach(adapter);
    adapter.dispose();
    tf.dispose([pretrained, adapted]);
  });

  it('would train only the up bias if both projections started at zero (why initStd 0 is refused)', () => {
    const adapter = createAdapter(kit.model);
    const saved = adapter.weights();
    const zeros = new Map([...saved].map(([name, tensor]) => [name, tf.zerosLike(tensor)]));
    tf.dispose([...saved.values()]);
    adapter.loadWeights(zeros);
    kit.model.attach(adapter);
    const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1], 'int32'), kit.model.numClasses));
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, kit.model.forward(kit.input)) as tf.Scalar, adapter.trainableVariables());
    const names = [...zeros.keys()];
    adapter.trainableVariables().forEach((variable, index) => {
      const largest = tf.tidy(() => tf.max(tf.abs(grads[variable.name]!)).dataSync()[0]!);
      if (names[index]!.endsWith('up.bias')) expect(largest, names[index]).toBeGreaterThan(0);
      else expect(largest, names[index]).toBe(0);
    });
    kit.model.detach(adapter);
    adapter.dispose();
    tf.dispose([value, labels, Object.values(grads), [...zeros.values()]]);
  });

  it('adds depth * (D r + r + r D + D) parameters', () => {
    const wide = tinyModel({ ...TINY_VIT, embedDim: 48, depth: 3, numHeads: 4 });
    const adapter = createAdapter(wide, { bottleneck: 5 });
    expect(adapter.numParameters()).toBe(3 * (48 * 5 + 5 + 5 * 48 + 48));
    const weights = adapter.weights();
    expect([...weights.keys()].slice(0, 4)).toEqual([
      'blocks.0.adapter.down.weight',
      'blocks.0.adapter.down.bias',
      'blocks.0.adapter.up.weight',
      'blocks.0.adapter.up.bias',
    ]);
    expect(weights.get('blocks.2.adapter.down.weight')!.shape).toEqual([48, 5]);
    expect(weights.get('blocks.2.adapter.up.weight')!.shape).toEqual([5, 48]);
    tf.dispose([...weights.values()]);
    adapter.dispose();
    wide.dispose();
  });

  it('validates its config, naming the field', () => {
    expect(new AdapterConfig().toJSON()).toEqual({ bottleneck: 8, initStd: 0.02, seed: 0 });
    const refuse = (input: Record<string, unknown>, pattern: RegExp) => expectConfigError((fields) => new AdapterConfig(fields), input, pattern);
    refuse({ bottleneck: 0 }, /^bottleneck must be an integer >= 1, got 0$/);
    refuse({ bottleneck: 2.5 }, /^bottleneck must be an integer >= 1, got 2.5$/);
    refuse({ bottleneck: '8' }, /^bottleneck must be an integer >= 1, got "8"$/);
    refuse({ initStd: 0 }, /^initStd must not be 0: with both projections at zero no gradient reaches their weights, got 0$/);
    refuse({ initStd: Number.NaN }, /^initStd must be a finite number >= 0, got NaN$/);
    refuse({ seed: 0.5 }, /^seed must be an integer, got 0.5$/);
    refuse({ rank: 8 }, /^adapter.rank is not an option \(options: bottleneck, initStd, seed\), got 8$/);
  });
});

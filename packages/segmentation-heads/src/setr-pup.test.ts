import * as tf from '@tensorflow/tfjs-core';
import type { VisionTransformer, VitExtension } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tinyBackbone, values } from './__fixtures__/tiny-backbone';
import type { SetrPupConfigInput } from './setr-pup';
import { SetrPup, setrPupParameterCounts } from './setr-pup';

const TINY_SETR: SetrPupConfigInput = { numClasses: 4, decodeHead: { channels: 8 }, auxiliaryHead: { channels: 8 }, auxiliaryIndices: [0] };

/** Three prompt tokens inserted after CLS before block 0, VPT-shallow style. */
function promptExtension(dim: number): { extension: VitExtension; prompts: tf.Variable } {
  const prompts = tf.tidy(() => tf.variable(tf.randomNormal([1, 3, dim], 0, 1, 'float32', 12)));
  const extension: VitExtension = {
    name: 'test-prompts',
    enterBlock(tokens, context) {
      if (context.blockIndex !== 0) return tokens;
      const [batch, count] = tokens.shape;
      const cls = tf.slice(tokens, [0, 0, 0], [batch, 1, dim]);
      const patches = tf.slice(tokens, [0, 1, 0], [batch, count - 1, dim]);
      return tf.concat([cls, tf.broadcastTo(prompts, [batch, 3, dim]) as tf.Tensor3D, patches], 1);
    },
  };
  return { extension, prompts };
}

describe('SetrPup', () => {
  let backbone: VisionTransformer;
  let images: tf.Tensor4D;
  let before: number;

  beforeEach(() => {
    before = tf.memory().numTensors;
    backbone = tinyBackbone();
    images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 3) as tf.Tensor4D;
  });
  afterEach(() => {
    backbone.dispose();
    images.dispose();
    expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  });

  it('gives decode logits x16 of the patch grid and auxiliary logits x4 (x16 with mmseg’s up_scale 4)', () => {
    for (const [auxiliaryUpScale, auxiliarySide] of [
      [2, 16],
      [4, 64],
    ] as const) {
      const model = new SetrPup(backbone, { ...TINY_SETR, auxiliaryIndices: [0, 1], auxiliaryHead: { channels: 8, upScale: auxiliaryUpScale } });
      const logits = model.forward(images);
      expect(logits.shape).toEqual([2, 64, 64, 4]);
      const both = model.forwardWithAuxiliary(images, { training: true, seed: 1 });
      expect(both.logits.shape).toEqual([2, 64, 64, 4]);
      expect(both.auxiliary.map((tensor) => tensor.shape)).toEqual([
        [2, auxiliarySide, auxiliarySide, 4],
        [2, auxiliarySide, auxiliarySide, 4],
      ]);
      tf.dispose([logits, both.logits, ...both.auxiliary]);
      model.dispose();
    }
  });

  it('reads the last block’s and the chosen blocks’ patch tokens without the final norm', () => {
    const model = new SetrPup(backbone, TINY_SETR);
    const { features, intermediates } = backbone.forwardIntermediates(images, { indices: [1, 0], format: 'grid' });
    const decode = model.decodeHead.forward(intermediates[0] as tf.Tensor4D);
    const auxiliary = model.auxiliaryHeads[0]!.forward(intermediates[1] as tf.Tensor4D);
    const ours = model.forwardWithAuxiliary(images);
    const plain = model.forward(images);
    expect(values(ours.logits)).toEqual(values(decode));
    expect(values(plain)).toEqual(values(decode));
    expect(values(ours.auxiliary[0]!)).toEqual(values(auxiliary));
    tf.dispose([features, ...intermediates, decode, auxiliary, ours.logits, ...ours.auxiliary, plain]);
    model.dispose();
  });

  it('works with prompt tokens attached to the backbone: same shapes, the heads read the last N tokens', () => {
    const model = new SetrPup(backbone, TINY_SETR);
    const without = model.forward(images);
    const { extension, prompts } = promptExtension(32);
    backbone.attach(extension);
    const withPrompts = model.forward(images);
    const { features, intermediates } = backbone.forwardIntermediates(images, { indices: [1], format: 'grid' });
    const direct = model.decodeHead.forward(intermediates[0] as tf.Tensor4D);
    expect(withPrompts.shape).toEqual(without.shape);
    expect(values(withPrompts)).not.toEqual(values(without));
    expect(values(withPrompts)).toEqual(values(direct));
    backbone.detach(extension);
    tf.dispose([without, withPrompts, features, ...intermediates, direct, prompts]);
    model.dispose();
  });

  it('adds 0.4 times each auxiliary loss to the decode loss, with labels at their own size', () => {
    const model = new SetrPup(backbone, { ...TINY_SETR, auxiliaryIndices: [0, 1] });
    const labels = tf.tensor3d(Array.from({ length: 2 * 24 * 20 }, (_, index) => (index % 11 === 0 ? 255 : index % 4)), [2, 24, 20], 'int32');
    const losses = model.losses(images, labels, { training: true, seed: 2 });
    const [total, decode, first, second] = [losses.total, losses.decode, ...losses.auxiliary].map((loss) => loss.dataSync()[0]!);
    expect(losses.auxiliary).toHaveLength(2);
    expect(total).toBeCloseTo(decode! + 0.4 * (first! + second!), 5);
    expect(decode).toBeGreaterThan(0);
    const bad = tf.tensor3d([0, 4, 1, 2], [1, 2, 2], 'int32');
    expect(() => model.losses(images, bad)).toThrow(/labels must hold class ids in \[0, 4\) or the ignore index 255, got 4/);
    tf.dispose([labels, losses.total, losses.decode, ...losses.auxiliary, bad]);
    model.dispose();
  });

  it('counts its parameters from the config alone as the built heads hold them', () => {
    const configs: SetrPupConfigInput[] = [
      TINY_SETR,
      { ...TINY_SETR, auxiliaryIndices: [] },
      { ...TINY_SETR, auxiliaryIndices: [0, 1], decodeHead: { channels: 6, kernelSize: 1, numStages: 2 }, auxiliaryHead: { channels: 5, numStages: 3, upScale: 4 } },
    ];
    for (const config of configs) {
      const model = new SetrPup(backbone, config);
      const built = model.trainableVariables().reduce((sum, variable) => sum + variable.size, 0);
      expect(setrPupParameterCounts(backbone.config, config)).toEqual(model.parameterCounts());
      expect(model.parameterCounts().total).toBe(built);
      model.dispose();
    }
    expect(() => setrPupParameterCounts(backbone.config, { ...TINY_SETR, auxiliaryIndices: [9] })).toThrow(/auxiliaryIndices/);
  });

  it('exposes every head tensor under mmseg’s keys, counts the trainable ones, and saves and loads them', () => {
    const model = new SetrPup(backbone, { ...TINY_SETR, auxiliaryIndices: [0, 1] });
    const keys = model.parameters.map((parameter) => parameter.key);
    expect(keys[0]).toBe('decode_head.norm.weight');
    expect(keys.filter((key) => key.startsWith('auxiliary_head.1.'))).toHaveLength(2 + 2 * 5 + 2);
    expect(keys.at(-1)).toBe('auxiliary_head.1.conv_seg.bias');
    const counts = model.parameterCounts();
    const perStage = (input: number) => 9 * input * 8 + 2 * 8;
    const decode = 2 * 32 + perStage(32) + 3 * perStage(8) + 8 * 4 + 4;
    const auxiliary = 2 * 32 + perStage(32) + perStage(8) + 8 * 4 + 4;
    expect(counts).toEqual({ decode, auxiliary: 2 * auxiliary, total: decode + 2 * auxiliary });
    expect(model.numParameters()).toBe(counts.total);
    expect(model.trainableVariables().reduce((sum, variable) => sum + variable.size, 0)).toBe(counts.total);

    const saved = model.weights();
    const expected = model.forward(images);
    const fresh = new SetrPup(backbone, { ...TINY_SETR, auxiliaryIndices: [0, 1], seed: 5 });
    const different = fresh.forward(images);
    fresh.loadWeights(saved);
    const restored = fresh.forward(images);
    expect(values(different)).not.toEqual(values(expected));
    expect(values(restored)).toEqual(values(expected));
    tf.dispose([expected, different, restored, ...saved.values()]);
    model.dispose();
    fresh.dispose();
  });

  it('frees its heads but not the backbone', () => {
    const withModel = tf.memory().numTensors;
    const model = new SetrPup(backbone, TINY_SETR);
    model.dispose();
    expect(tf.memory().numTensors).toBe(withModel);
    const logits = backbone.forward(images);
    expect(logits.shape).toEqual([2, 32]);
    logits.dispose();
  });

  it('validates its configuration against the backbone, naming each field', () => {
    const cases: [SetrPupConfigInput, RegExp][] = [
      [{ numClasses: 0 }, /^numClasses must be an integer >= 1, got 0$/],
      [{ numClasses: 4 }, /^auxiliaryIndices must hold distinct block indices in \[0, 1\] \(ViT-B: \[4, 8\]\), got \[4, 8\]$/],
      [{ ...TINY_SETR, auxiliaryIndices: [1, 1] }, /^auxiliaryIndices must hold distinct/],
      [{ ...TINY_SETR, auxiliaryIndices: [-1] }, /^auxiliaryIndices must hold distinct/],
      [{ ...TINY_SETR, auxiliaryWeight: -0.4 }, /^auxiliaryWeight must be a finite number >= 0, got -0.4$/],
      [{ ...TINY_SETR, ignoreIndex: 3 }, /^ignoreIndex must not be a class id \(numClasses 4\), got 3$/],
      [{ ...TINY_SETR, lossAverage: 'mean' as never }, /^lossAverage must be one of non-ignored, all-pixels, got "mean"$/],
      [{ ...TINY_SETR, seed: 0.5 }, /^seed must be an integer >= 0, got 0.5$/],
      [{ ...TINY_SETR, decodeHead: { channels: 0 } }, /^decodeHead.channels must be an integer >= 1, got 0$/],
      [{ ...TINY_SETR, auxiliaryHead: { numStages: 0 } }, /^auxiliaryHead.numStages must be an integer >= 1, got 0$/],
      [{ ...TINY_SETR, auxiliaryHead: { inChannels: 3 } as never }, /^auxiliaryHead.inChannels is not an option/],
      [{ ...TINY_SETR, decodeHead: 3 as never }, /^decodeHead must be an object, got 3$/],
      [{ ...TINY_SETR, ignoreIndex: -1 }, /^ignoreIndex must be an integer >= 0, got -1$/],
      [{ ...TINY_SETR, heads: 2 } as never, /^config.heads is not an option/],
    ];
    for (const [config, message] of cases) expect(() => new SetrPup(backbone, config)).toThrow(message);
    const model = new SetrPup(backbone, { numClasses: 150, auxiliaryIndices: [] });
    expect(model.config).toMatchObject({ auxiliaryWeight: 0.4, ignoreIndex: 255, lossAverage: 'non-ignored', decodeHead: { channels: 256, numStages: 4, upScale: 2, kernelSize: 3, dropout: 0 } });
    expect(model.config.auxiliaryHead.numStages).toBe(2);
    expect(model.auxiliaryHeads).toHaveLength(0);
    model.dispose();
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointMismatchError, ConfigError } from './errors';
import type { SlotContext, VitExtension } from './extension';
import { MethodBase } from './method-base';
import { VisionTransformer } from './vision-transformer';

const TINY = { imgSize: 16, patchSize: 8, embedDim: 8, depth: 2, numHeads: 2, numClasses: 3 } as const;

/** Inserts `count` constant tokens of value `value` into its own slots at block 0 and records where they sat. */
function constantPrompts(name: string, count: number, value: number): VitExtension & { seen: number[][] } {
  const seen: number[][] = [];
  return {
    name,
    insertedTokens: count,
    seen,
    enterBlock(tokens: tf.Tensor3D, context: SlotContext) {
      if (context.blockIndex !== 0) return tokens;
      const { start } = context.slots;
      const [batch, , dim] = tokens.shape;
      const prompts = tf.fill([batch, count, dim], value) as tf.Tensor3D;
      return tf.concat([tf.slice(tokens, [0, 0, 0], [-1, start, -1]), prompts, tf.slice(tokens, [0, start, 0], [-1, -1, -1])], 1);
    },
    exitBlock(_input: tf.Tensor3D, output: tf.Tensor3D, context: SlotContext) {
      seen.push([context.blockIndex, context.slots.start, context.slots.count]);
      return output;
    },
  };
}

describe('the method contract of the backbone', () => {
  let model: VisionTransformer;
  let images: tf.Tensor4D;
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
    model = new VisionTransformer(TINY, { seed: 1 });
    images = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 5);
  });
  afterEach(() => {
    images.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives each token-inserting extension its own slots after CLS, in attach order', () => {
    const first = constantPrompts('first', 2, 1);
    const second = constantPrompts('second', 3, 2);
    model.attach(first);
    model.attach(second);
    expect(model.tokenSlots(first)).toEqual({ start: 1, count: 2 });
    expect(model.tokenSlots(second)).toEqual({ start: 3, count: 3 });
    const tokens = model.forwardIntermediates(images, { indices: [0], format: 'tokens' });
    tf.dispose([tokens.features, ...tokens.intermediates]);
    expect(first.seen).toEqual([[0, 1, 2], [1, 1, 2]]);
    expect(second.seen).toEqual([[0, 3, 3], [1, 3, 3]]);
    // Switched off, the first one's slots close up and the second's move to just after CLS.
    model.disableExtensions(() => expect(model.tokenSlots(second)).toEqual({ start: 1, count: 3 }), [first]);
    expect(model.tokenSlots(first)).toEqual({ start: 1, count: 2 });
  });

  it('the sequence holds [CLS, first slots, second slots, patches] with each extension’s tokens where it was told', () => {
    model.attach(constantPrompts('first', 2, 1));
    model.attach(constantPrompts('second', 1, 2));
    const seenTokens: tf.Tensor3D[] = [];
    const spy: VitExtension = {
      name: 'spy',
      enterBlock: (tokens, context) => {
        if (context.blockIndex === 0) seenTokens.push(tf.keep(tf.clone(tokens)));
        return tokens;
      },
    };
    model.attach(spy);
    tf.dispose(model.forward(images));
    const row = tf.tidy(() => tf.slice(seenTokens[0]!, [0, 1, 0], [1, 3, 1]).dataSync());
    expect(Array.from(row)).toEqual([1, 1, 2]);
    expect(seenTokens[0]!.shape[1]).toBe(1 + 3 + 4);
    tf.dispose(seenTokens);
  });

  it('disableExtensions computes the model without them, keeps attach order, nests and survives an error', async () => {
    const plain = model.forward(images);
    const extension: VitExtension = { name: 'shift', headInput: (pooled) => tf.add(pooled, 1) };
    const other: VitExtension = { name: 'other', headInput: (pooled) => tf.mul(pooled, 2) };
    model.attach(extension);
    model.attach(other);
    const tuned = model.forward(images);
    const off = model.disableExtensions(() => model.forward(images));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(off, plain))).dataSync()[0])).toBe(0);
    expect(() => model.disableExtensions(() => {
      throw new Error('inside');
    })).toThrow('inside');
    const asyncOff = await model.disableExtensions(async () => {
      await Promise.resolve();
      return model.disableExtensions(() => model.forward(images), [other]);
    });
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(asyncOff, plain))).dataSync()[0])).toBe(0);
    const again = model.forward(images);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(again, tuned))).dataSync()[0])).toBe(0);
    expect(model.extensions.map((e) => e.name)).toEqual(['shift', 'other']);
    expect(() => model.disableExtensions(() => 0, [{ name: 'stranger' }])).toThrow(ConfigError);
    tf.dispose([plain, tuned, off, asyncOff, again]);
  });

  it('refuses a second extension with its own training forward, naming both', () => {
    const forward = () => ({ logits: (x: tf.Tensor4D) => model.forward(x) });
    model.attach({ name: 'a', trainingForward: forward });
    expect(() => model.attach({ name: 'b', trainingForward: forward })).toThrow(/runs its own training forward pass, and the attached a already does: attach only one of them, got "b"/);
  });
});

class TwoWeights extends MethodBase<{ seed: number; width: number }> {
  readonly name: string;
  readonly scale: tf.Variable;
  readonly head: tf.Variable;
  constructor(name: string, config: { seed: number; width: number }) {
    super(config);
    this.name = name;
    this.scale = this.addVariable('scale', (seed) => tf.randomNormal([config.width], 0, 1, 'float32', seed));
    this.head = this.addVariable('head.weight', (seed) => tf.randomNormal([config.width, 2], 0, 1, 'float32', seed), { saved: 'transposed', classifier: true });
  }
}

describe('MethodBase', () => {
  let before: number;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => expect(tf.memory().numTensors).toBe(before));

  it('draws each variable from its own seed: distinct per method name, variable and config seed, repeatable', () => {
    const a = new TwoWeights('a', { seed: 0, width: 4 });
    const again = new TwoWeights('a', { seed: 0, width: 4 });
    const b = new TwoWeights('b', { seed: 0, width: 4 });
    const reseeded = new TwoWeights('a', { seed: 1, width: 4 });
    const values = (m: TwoWeights) => Array.from(m.scale.dataSync());
    expect(values(again)).toEqual(values(a));
    expect(values(b)).not.toEqual(values(a));
    expect(values(reseeded)).not.toEqual(values(a));
    expect(Array.from(a.head.dataSync()).slice(0, 4)).not.toEqual(values(a));
    [a, again, b, reseeded].forEach((m) => m.dispose());
  });

  it('counts its parameters without its own classifier, saves transposed weights in PyTorch layout and loads them back', () => {
    const method = new TwoWeights('m', { seed: 3, width: 4 });
    expect(method.numParameters()).toBe(4);
    expect(method.trainableVariables()).toHaveLength(2);
    const saved = method.weights();
    expect(saved.get('head.weight')!.shape).toEqual([2, 4]);
    const copy = new TwoWeights('m', { seed: 4, width: 4 });
    copy.loadWeights(saved);
    expect(Array.from(copy.head.dataSync())).toEqual(Array.from(method.head.dataSync()));
    tf.dispose([...saved.values()]);
    method.dispose();
    copy.dispose();
  });

  it('refuses missing, unexpected, wrong-shaped and wrong-dtype weights in one error and writes nothing', () => {
    const method = new TwoWeights('m', { seed: 3, width: 4 });
    const original = Array.from(method.scale.dataSync());
    const wrong = new Map<string, tf.Tensor>([
      ['scale', tf.zeros([5])],
      ['extra', tf.zeros([1])],
    ]);
    const error = (() => {
      try {
        method.loadWeights(wrong);
      } catch (caught) {
        return caught as CheckpointMismatchError;
      }
      throw new Error('loadWeights accepted wrong weights');
    })();
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect(error.missing).toEqual(['head.weight']);
    expect(error.unexpected).toEqual(['extra']);
    expect(error.mismatched).toEqual([{ key: 'scale', expected: [4], found: [5] }]);
    expect(Array.from(method.scale.dataSync())).toEqual(original);
    const ints = new Map<string, tf.Tensor>([
      ['scale', tf.zeros([4], 'int32')],
      ['head.weight', tf.zeros([2, 4])],
    ]);
    expect(() => method.loadWeights(ints)).toThrow('m weights does not fit the model: wrong dtypes: scale expected float32 found int32');
    tf.dispose([...wrong.values(), ...ints.values()]);
    method.dispose();
  });
});

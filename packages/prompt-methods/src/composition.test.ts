/**
 * Prompt methods composed on one model: each takes the token slots the backbone assigns it, so its
 * prompts, its deep replacements and its gates stay in its own slots whatever was attached before it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blockInputTokens, promptNmiAtBlock, promptPatchNmi } from './prompt-nmi';
import type { PromptTuning } from './prompt-tuning';
import { createGatedPrompt, createVpt } from './prompt-tuning';
import { rawBlock, sigmoid, slots, values } from './__fixtures__/blocks';

const DIM = 32;
const PATCHES = 16;
const DEPTH = 3;
/** Each of `sets` repeated for a batch of 2, flattened: what a prompt set looks like in a sequence. */
const batchOf = (set: Float32Array) => [...set, ...set];

function expectClose(actual: number[], expected: number[], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const worst = actual.reduce((max, value, i) => Math.max(max, Math.abs(value - expected[i]!)), 0);
  expect(worst).toBeLessThan(tolerance);
}

let model: VisionTransformer;
let images: tf.Tensor4D;
let tensorsBefore: number;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  model = tinyModel({ ...TINY_VIT, depth: DEPTH });
  images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 11) as tf.Tensor4D;
});
afterEach(() => {
  for (const extension of [...model.extensions]) model.detach(extension);
  model.dispose();
  images.dispose();
  expect(tf.memory().numTensors, 'tensors left').toBe(tensorsBefore);
});

/** Logits of the model with exactly `methods` attached, in this order (training passes seeded). */
function logitsWith(methods: readonly PromptTuning[], training = false): number[] {
  methods.forEach((method) => model.attach(method));
  const logits = tf.tidy(() => values(model.forward(images, { training, seed: training ? 5 : undefined })));
  methods.forEach((method) => model.detach(method));
  return logits;
}

describe('VPT-deep then Gated Prompt Tuning on one model', () => {
  it('keeps each method’s prompts in its own slots; deep sets replace only their slots, gates mix only theirs', () => {
    const deep = createVpt(model, { numPrompts: 3, deep: true, seed: 1 });
    const gated = createGatedPrompt(model, { numPrompts: 2, gateInit: -0.3, temperature: false, seed: 2 });
    model.attach(deep);
    model.attach(gated);
    expect(model.tokenSlots(deep)).toEqual({ start: 1, count: 3 });
    expect(model.tokenSlots(gated)).toEqual({ start: 4, count: 2 });
    const g = sigmoid(0.3);
    const deepSets = deep.promptSets();
    const inputs = [0, 1, 2].map((block) => blockInputTokens(model, images, block));
    const embedded = model.embed(images);
    // Into block 1: [CLS, deep set 1, gated prompts, patches].
    expect(inputs[0]!.shape).toEqual([2, 1 + 3 + 2 + PATCHES, DIM]);
    expect(slots(inputs[0]!, 0, 1)).toEqual(slots(embedded, 0, 1));
    expect(slots(inputs[0]!, 1, 3)).toEqual(batchOf(deepSets[0]!));
    expect(slots(inputs[0]!, 4, 2)).toEqual(batchOf(gated.promptSets()[0]!));
    expect(slots(inputs[0]!, 6, PATCHES)).toEqual(slots(embedded, 1, PATCHES));
    for (const block of [1, 2]) {
      const input = inputs[block - 1]!;
      const raw = rawBlock(model, block - 1, input);
      const entering = inputs[block]!;
      // The deep method's slots hold its next set, unmixed by the gates.
      expect(slots(entering, 1, 3)).toEqual(batchOf(deepSets[block]!));
      // The gated method's slots: g * block output + (1 - g) * block input.
      const mixed = slots(raw, 4, 2).map((out, i) => g * out + (1 - g) * slots(input, 4, 2)[i]!);
      expectClose(slots(entering, 4, 2), mixed);
      // CLS and patches are the block's own output.
      expect(slots(entering, 0, 1)).toEqual(slots(raw, 0, 1));
      expect(slots(entering, 6, PATCHES)).toEqual(slots(raw, 6, PATCHES));
      raw.dispose();
    }
    tf.dispose([...inputs, embedded]);
    [deep, gated].forEach((method) => method.dispose());
  });

  it('with one of them switched off computes the other alone, bit for bit, in evaluation and in seeded training passes', () => {
    const deep = createVpt(model, { numPrompts: 3, deep: true, dropout: 0.2, seed: 1 });
    const gated = createGatedPrompt(model, { numPrompts: 2, gateInit: -0.3, dropout: 0.2, seed: 2 });
    // Temperatures away from 1, so that the switched-off method's attention scaling would show.
    tf.tidy(() => gated.trainableVariables()[2]!.assign(tf.tensor1d([0.7, 1.3, 2])));
    for (const training of [false, true]) {
      const deepAlone = logitsWith([deep], training);
      const gatedAlone = logitsWith([gated], training);
      model.attach(deep);
      model.attach(gated);
      const composed = tf.tidy(() => values(model.forward(images, { training, seed: training ? 5 : undefined })));
      const withoutGated = model.disableExtensions(() => tf.tidy(() => values(model.forward(images, { training, seed: training ? 5 : undefined }))), [gated]);
      const withoutDeep = model.disableExtensions(() => {
        expect(model.tokenSlots(gated)).toEqual({ start: 1, count: 2 });
        return tf.tidy(() => values(model.forward(images, { training, seed: training ? 5 : undefined })));
      }, [deep]);
      model.detach(gated);
      model.detach(deep);
      expect(withoutGated).toEqual(deepAlone);
      expect(withoutDeep).toEqual(gatedAlone);
      expect(composed).not.toEqual(deepAlone);
      expect(composed).not.toEqual(gatedAlone);
    }
    [deep, gated].forEach((method) => method.dispose());
  });

  it('measures each method’s own prompts for the NMI', () => {
    const deep = createVpt(model, { numPrompts: 3, deep: true, seed: 1 });
    const gated = createGatedPrompt(model, { numPrompts: 2, seed: 2 });
    model.attach(deep);
    model.attach(gated);
    const tokens = blockInputTokens(model, images, 0);
    const patches = tf.slice(tokens, [0, 6, 0], [-1, PATCHES, -1]);
    for (const [method, start, count] of [[deep, 1, 3], [gated, 4, 2]] as const) {
      const prompts = tf.slice(tokens, [0, start, 0], [-1, count, -1]);
      expect(promptNmiAtBlock(model, images, { method })).toEqual(promptPatchNmi(prompts, patches));
      const [nmi] = method.diagnostics({ model, images, source: null, epoch: 0 });
      expect(nmi).toEqual({ kind: 'scalar', name: 'prompt-patch-nmi', title: expect.stringContaining('SPT') as string, value: promptPatchNmi(prompts, patches).mean });
      prompts.dispose();
    }
    tf.dispose([tokens, patches]);
    [deep, gated].forEach((method) => method.dispose());
  });
});

describe('two VPTs on one model', () => {
  it('compute what one VPT does with both prompt sets concatenated, bit for bit (shallow and deep)', () => {
    for (const deep of [false, true]) {
      const first = createVpt(model, { numPrompts: 2, deep, seed: 1 });
      const second = createVpt(model, { numPrompts: 3, deep, seed: 2 });
      const joined = createVpt(model, { numPrompts: 5, deep });
      const [firstSets, secondSets] = [first.promptSets(), second.promptSets()];
      joined.setPromptSets(firstSets.map((set, index) => Float32Array.from([...set, ...secondSets[index]!])));
      model.attach(first);
      model.attach(second);
      expect(model.tokenSlots(first)).toEqual({ start: 1, count: 2 });
      expect(model.tokenSlots(second)).toEqual({ start: 3, count: 3 });
      model.detach(first);
      model.detach(second);
      expect(logitsWith([first, second])).toEqual(logitsWith([joined]));
      // In the other order, the second's prompts come first.
      joined.setPromptSets(firstSets.map((set, index) => Float32Array.from([...secondSets[index]!, ...set])));
      expect(logitsWith([second, first])).toEqual(logitsWith([joined]));
      [first, second, joined].forEach((method) => method.dispose());
    }
  });

  it('train apart: their prompt dropout draws differ', () => {
    const first = createVpt(model, { numPrompts: 3, dropout: 0.5, seed: 1 });
    const second = createVpt(model, { numPrompts: 3, dropout: 0.5, seed: 2 });
    // The same prompts in both, so that only the masks can tell them apart.
    second.setPromptSets(first.promptSets());
    model.attach(first);
    model.attach(second);
    const tokens = blockInputTokens(model, images, 0, { training: true, seed: 9 });
    const zeros = (values: number[]) => values.map((value) => value === 0);
    expect(zeros(slots(tokens, 1, 3))).not.toEqual(zeros(slots(tokens, 4, 3)));
    tokens.dispose();
    [first, second].forEach((method) => method.dispose());
  });

  it('refuse to run with one seed: they would draw the same prompts and masks and never become two sets', () => {
    const first = createVpt(model, { numPrompts: 2, seed: 3 });
    const second = createVpt(model, { numPrompts: 3, seed: 3 });
    model.attach(first);
    model.attach(second);
    expect(() => model.forward(images)).toThrow(ConfigError);
    expect(() => model.forward(images)).toThrow(/^seed must differ between the two vpt-shallow methods on one model, got 3$/);
    // Either one alone runs.
    model.disableExtensions(() => tf.tidy(() => void model.forward(images)), [second]);
    [first, second].forEach((method) => method.dispose());
  });
});

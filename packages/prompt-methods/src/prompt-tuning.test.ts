import * as tf from '@tensorflow/tfjs-core';
import type { SlotContext, VisionTransformer } from '@visual-peft/vit-core';
import { CheckpointMismatchError, ConfigError, ShapeError } from '@visual-peft/vit-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blockInputTokens } from './prompt-nmi';
import type { PromptTuning } from './prompt-tuning';
import { TEMPERATURE_RANGE, createGatedPrompt, createVpt, uniformPromptBound } from './prompt-tuning';
import { selectionRatios } from './selection-ratio';
import { context, rawBlock, sigmoid, slots, values } from './__fixtures__/blocks';

const DIM = 32;
const PATCHES = 16;

function weightNames(method: PromptTuning): string[] {
  const weights = method.weights();
  tf.dispose([...weights.values()]);
  return [...weights.keys()];
}

function expectClose(actual: number[], expected: number[], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const worst = actual.reduce((max, value, i) => Math.max(max, Math.abs(value - expected[i]!)), 0);
  expect(worst).toBeLessThan(tolerance);
}

/** Sets a method's named weights, keeping the others. */
function setWeights(method: PromptTuning, changes: Record<string, number[]>): void {
  const weights = method.weights();
  for (const [key, numbers] of Object.entries(changes)) {
    const old = weights.get(key)!;
    weights.set(key, tf.tensor(numbers, old.shape));
    old.dispose();
  }
  method.loadWeights(weights);
  tf.dispose([...weights.values()]);
}

let model: VisionTransformer;
let images: tf.Tensor4D;
let tensorsBefore: number;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  model = tinyModel();
  images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 11) as tf.Tensor4D;
});
afterEach(() => {
  for (const extension of [...model.extensions]) model.detach(extension);
  model.dispose();
  images.dispose();
  expect(tf.memory().numTensors, 'tensors left').toBe(tensorsBefore);
});

describe('VPT', () => {
  it('draws prompts from uniform(-v, v), v = sqrt(6 / (3 p^2 + D)), seeded', () => {
    expect(uniformPromptBound(16, 768)).toBe(1 / 16); // ViT-B/16: sqrt(6 / 1536)
    const bound = uniformPromptBound(8, DIM);
    expect(bound).toBeCloseTo(Math.sqrt(6 / 224), 12);
    const method = createVpt(model, { numPrompts: 64, seed: 4 });
    const drawn = method.promptSets()[0]!;
    expect(drawn.length).toBe(64 * DIM);
    expect(Math.max(...drawn)).toBeLessThanOrEqual(bound);
    expect(Math.min(...drawn)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...drawn)).toBeGreaterThan(0.95 * bound);
    const mean = drawn.reduce((sum, x) => sum + x, 0) / drawn.length;
    const variance = drawn.reduce((sum, x) => sum + (x - mean) ** 2, 0) / drawn.length;
    expect(Math.abs(mean)).toBeLessThan(0.02 * bound);
    expect(variance / (bound * bound / 3)).toBeGreaterThan(0.93);
    expect(variance / (bound * bound / 3)).toBeLessThan(1.07);
    const again = createVpt(model, { numPrompts: 64, seed: 4 });
    const other = createVpt(model, { numPrompts: 64, seed: 5 });
    expect(again.promptSets()).toEqual(method.promptSets());
    expect(other.promptSets()).not.toEqual(method.promptSets());
    [method, again, other].forEach((m) => m.dispose());
  });

  it('inserts the prompts after CLS before block 1, with no position embedding', () => {
    const method = createVpt(model, { numPrompts: 3 });
    model.attach(method);
    const tokens = blockInputTokens(model, images, 0);
    const embedded = model.embed(images);
    expect(tokens.shape).toEqual([2, 1 + 3 + PATCHES, DIM]);
    expect(slots(tokens, 0, 1)).toEqual(slots(embedded, 0, 1));
    const prompts = method.promptSets()[0]!;
    expect(slots(tokens, 1, 3)).toEqual([...prompts, ...prompts]);
    expect(slots(tokens, 4, PATCHES)).toEqual(slots(embedded, 1, PATCHES));
    tf.dispose([tokens, embedded]);
    method.dispose();
  });

  it('shallow: the prompts flow through every block; deep: before block i >= 2 set i replaces the prompt outputs', () => {
    const shallow = createVpt(model, { numPrompts: 3 });
    model.attach(shallow);
    let { features, intermediates } = model.forwardIntermediates(images, { indices: [0], format: 'tokens' });
    let entering = blockInputTokens(model, images, 1);
    expect(values(entering)).toEqual(values(intermediates[0]!));
    tf.dispose([features, entering, ...intermediates]);
    model.detach(shallow);
    shallow.dispose();

    const deep = createVpt(model, { numPrompts: 3, deep: true });
    expect(deep.promptSets()).toHaveLength(2);
    model.attach(deep);
    ({ features, intermediates } = model.forwardIntermediates(images, { indices: [0], format: 'tokens' }));
    entering = blockInputTokens(model, images, 1);
    const second = deep.promptSets()[1]!;
    expect(slots(entering, 1, 3)).toEqual([...second, ...second]);
    expect(slots(intermediates[0]! as tf.Tensor3D, 1, 3)).not.toEqual([...second, ...second]);
    expect(slots(entering, 0, 1)).toEqual(slots(intermediates[0]! as tf.Tensor3D, 0, 1));
    expect(slots(entering, 4, PATCHES)).toEqual(slots(intermediates[0]! as tf.Tensor3D, 4, PATCHES));
    tf.dispose([features, entering, ...intermediates]);
    deep.dispose();
  });

  it('applies dropout to the prompts only, only in training, reproducibly for a seed', () => {
    const method = createVpt(model, { numPrompts: 3, deep: true, dropout: 0.5 });
    model.attach(method);
    for (const block of [0, 1]) {
      const prompts = method.promptSets()[block]!;
      const expected = [...prompts, ...prompts];
      const trained = blockInputTokens(model, images, block, { training: true, seed: 9 });
      const dropped = slots(trained, 1, 3);
      expect(dropped.every((x, i) => x === 0 || Math.abs(x - 2 * expected[i]!) < 1e-6)).toBe(true);
      const zeros = dropped.filter((x) => x === 0).length;
      expect(zeros).toBeGreaterThan(0.3 * dropped.length);
      expect(zeros).toBeLessThan(0.7 * dropped.length);
      const again = blockInputTokens(model, images, block, { training: true, seed: 9 });
      expect(values(again)).toEqual(values(trained));
      const evaluated = blockInputTokens(model, images, block);
      expect(slots(evaluated, 1, 3)).toEqual(expected);
      // Into the first block, CLS and patches are untouched (later ones saw the dropped prompts).
      if (block === 0) expect(slots(trained, 4, PATCHES)).toEqual(slots(evaluated, 4, PATCHES));
      tf.dispose([trained, again, evaluated]);
    }
    method.dispose();
  });

  it('keys each image’s prompt dropout (and the pass’s Gumbel gates) so that micro-batches give the whole batch’s tokens', () => {
    for (const method of [createVpt(model, { numPrompts: 3, deep: true, dropout: 0.5 }), createGatedPrompt(model, { numPrompts: 3, dropout: 0.5, hardGates: true })]) {
      model.attach(method);
      const options = { training: true, seed: 9 };
      const whole = tf.tidy(() => model.forwardFeatures(images, options));
      const split = tf.tidy(() =>
        tf.concat([0, 1].map((image) => model.forwardFeatures(tf.slice(images, [image, 0, 0, 0], [1, -1, -1, -1]), { ...options, imageOffset: image }))),
      );
      expectClose(values(split), values(whole), 1e-6);
      // Image 1 drawn as the batch's first gets other prompt masks.
      const misplaced = tf.tidy(() => model.forwardFeatures(tf.slice(images, [1, 0, 0, 0], [1, -1, -1, -1]), options));
      expect(slots(misplaced, 0, 4)).not.toEqual(tf.tidy(() => values(tf.slice(whole, [1, 0, 0], [1, 4, -1]))));
      tf.dispose([whole, split, misplaced]);
      model.detach(method);
      method.dispose();
    }
  });

  it('counts P x D parameters per prompt set', () => {
    const shallow = createVpt(model, { numPrompts: 10 });
    const deep = createVpt(model, { numPrompts: 10, deep: true });
    expect(shallow.numParameters()).toBe(10 * DIM);
    expect(deep.numParameters()).toBe(2 * 10 * DIM);
    expect(weightNames(deep)).toEqual(['prompt_embeddings', 'deep_prompt_embeddings']);
    shallow.dispose();
    deep.dispose();
  });

  it('saves weights under the authors’ names and refuses others or other shapes', () => {
    const method = createVpt(model, { numPrompts: 3, deep: true });
    const weights = method.weights();
    expect([...weights].map(([key, value]) => [key, value.shape])).toEqual([
      ['prompt_embeddings', [1, 3, DIM]],
      ['deep_prompt_embeddings', [1, 3, DIM]],
    ]);
    const before = method.promptSets();
    const renamed = new Map([['prompts', weights.get('prompt_embeddings')!], ['deep_prompt_embeddings', weights.get('deep_prompt_embeddings')!]]);
    expect(() => method.loadWeights(renamed)).toThrow(CheckpointMismatchError);
    expect(() => method.loadWeights(renamed)).toThrow(/^vpt-deep weights does not fit the model: missing keys: prompt_embeddings; unexpected keys: prompts$/);
    const reshaped = new Map(weights);
    const wrong = tf.zeros([1, 4, DIM]);
    reshaped.set('prompt_embeddings', wrong);
    const shifted = tf.ones([1, 3, DIM]);
    reshaped.set('deep_prompt_embeddings', shifted);
    expect(() => method.loadWeights(reshaped)).toThrow(CheckpointMismatchError);
    expect(() => method.loadWeights(reshaped)).toThrow(/wrong shapes: prompt_embeddings expected \[1, 3, 32\] found \[1, 4, 32\]$/);
    // Nothing was written: the deep set that fitted is not loaded either.
    expect(method.promptSets()).toEqual(before);
    expect(() => method.setPromptSets([new Float32Array(3 * DIM)])).toThrow(ShapeError);
    expect(() => method.setPromptSets([new Float32Array(3 * DIM)])).toThrow(/prompt sets must be 2 arrays of 3 x 32 values/);
    tf.dispose([...weights.values(), wrong, shifted]);
    method.dispose();
  });

  it('with a Self-Prompt Tuning init, refuses a forward until the prompts are set', () => {
    const method = createVpt(model, { numPrompts: 3, init: 'mean-pool' });
    expect(method.prepared).toBe(false);
    model.attach(method);
    expect(() => model.forward(images)).toThrow(/^init needs prepare\(trainingSource\) or loadWeights\(\) before the first forward pass, got "mean-pool"/);
    method.setPromptSets([new Float32Array(3 * DIM).fill(0.5)]);
    expect(method.prepared).toBe(true);
    model.forward(images).dispose();
    method.dispose();
  });

  it('frees every tensor it owns on dispose', () => {
    const before = tf.memory().numTensors;
    const method = createGatedPrompt(model, { numPrompts: 3 });
    expect(tf.memory().numTensors).toBe(before + 3);
    method.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('Gated Prompt Tuning', () => {
  it('starts every gate logit at -gateInit and every temperature at 1; counts P D + (L - 1) + L', () => {
    const method = createGatedPrompt(model, { numPrompts: 4, gateInit: 5 });
    expectClose(method.gateValues(), [sigmoid(-5)], 1e-9);
    expect(method.gateValues()[0]).toBeCloseTo(0.0067, 4);
    expect(method.temperatures()).toEqual([1, 1]);
    expect(method.numParameters()).toBe(4 * DIM + 1 + 2);
    expect(weightNames(method)).toEqual(['prompt_embeddings', 'gate_logit', 'temp']);
    method.dispose();
  });

  it('after each block but the last, mixes only the prompt slots: g * block output + (1 - g) * block input', () => {
    const method = createGatedPrompt(model, { numPrompts: 3, gateInit: -0.3, temperature: false });
    model.attach(method);
    const g = sigmoid(0.3);
    const input = blockInputTokens(model, images, 0);
    const raw = rawBlock(model, 0, input);
    const { features, intermediates } = model.forwardIntermediates(images, { indices: [0, 1], format: 'tokens' });
    const [afterFirst, afterLast] = intermediates as [tf.Tensor3D, tf.Tensor3D];
    const mixed = slots(raw, 1, 3).map((out, i) => g * out + (1 - g) * slots(input, 1, 3)[i]!);
    expectClose(slots(afterFirst, 1, 3), mixed);
    expect(slots(afterFirst, 0, 1)).toEqual(slots(raw, 0, 1));
    expect(slots(afterFirst, 4, PATCHES)).toEqual(slots(raw, 4, PATCHES));
    // The last block has no gate: its output is the block's own.
    const lastInput = blockInputTokens(model, images, 1);
    const lastRaw = rawBlock(model, 1, lastInput);
    expect(values(afterLast)).toEqual(values(lastRaw));
    tf.dispose([input, raw, features, afterFirst, afterLast, lastInput, lastRaw]);
    method.dispose();
  });

  it('scales block l’s attention logits by 1 / tau_l and clamps tau to [0.01, 10] before each forward', () => {
    const method = createGatedPrompt(model, { numPrompts: 3 });
    setWeights(method, { temp: [0.5, 4] });
    const scales = tf.tidy(() => [0, 1].map((block) => (method.attentionScale(context(model, block)) as tf.Scalar).dataSync()[0]!));
    expectClose(scales, [2, 0.25], 1e-6);
    expect(TEMPERATURE_RANGE).toEqual([0.01, 10]);
    setWeights(method, { temp: [0.001, 50] });
    model.attach(method);
    const clamped = model.forward(images);
    expectClose(method.temperatures(), [0.01, 10], 1e-7);
    setWeights(method, { temp: [0.01, 10] });
    const atBounds = model.forward(images);
    expect(values(clamped)).toEqual(values(atBounds));
    tf.dispose([clamped, atBounds]);
    method.dispose();
  });

  it('passes the gradient through the clamp unchanged, like the authors’ in-place clamp', () => {
    const method = createGatedPrompt(model, { numPrompts: 3 });
    setWeights(method, { temp: [0.001, 2] });
    model.attach(method);
    const temp = method.trainableVariables()[2]!;
    const { value, grads } = tf.variableGrads(() => tf.sum(model.forward(images)), [temp]);
    expect(values(grads[temp.name]!).every((g) => g !== 0)).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    method.dispose();
  });

  it('switches gates and temperatures off one at a time; with both off it is VPT-shallow', () => {
    const gatesOnly = createGatedPrompt(model, { numPrompts: 3, temperature: false });
    const temperaturesOnly = createGatedPrompt(model, { numPrompts: 3, gates: false });
    expect(weightNames(gatesOnly)).toEqual(['prompt_embeddings', 'gate_logit']);
    expect(weightNames(temperaturesOnly)).toEqual(['prompt_embeddings', 'temp']);
    expect(gatesOnly.attentionScale(context(model, 0))).toBeUndefined();
    const output = tf.zeros([1, 4, DIM]) as tf.Tensor3D;
    const slotContext: SlotContext = { ...context(model, 0), slots: { start: 1, count: 3 } };
    expect(temperaturesOnly.exitBlock(output, output, slotContext)).toBe(output);
    expect(() => temperaturesOnly.gateValues()).toThrow(/^gates must be on to read gate values/);
    expect(() => gatesOnly.temperatures()).toThrow(/^temperature must be on to read temperatures/);

    const neither = createGatedPrompt(model, { numPrompts: 3, gates: false, temperature: false, seed: 2 });
    const vpt = createVpt(model, { numPrompts: 3, seed: 2 });
    // Initial draws are keyed by the method's name as well as its seed: give both the same prompts.
    expect(neither.promptSets()).not.toEqual(vpt.promptSets());
    neither.setPromptSets(vpt.promptSets());
    const logits = [neither, vpt].map((method) => {
      model.attach(method);
      const result = tf.tidy(() => values(model.forward(images)));
      model.detach(method);
      return result;
    });
    expect(logits[0]).toEqual(logits[1]);
    tf.dispose(output);
    [gatesOnly, temperaturesOnly, neither, vpt].forEach((method) => method.dispose());
  });

  it('reports the selection ratio of every gated block (eq. 10-11) from its gates', () => {
    const deeper = tinyModel({ ...TINY_VIT, depth: 4 });
    const method = createGatedPrompt(deeper, { numPrompts: 2 });
    setWeights(method, { gate_logit: [0, Math.log(4), -Math.log(4)] }); // g = 0.5, 0.8, 0.2
    expectClose(method.gateValues(), [0.5, 0.8, 0.2], 1e-6);
    // w_1 = 0.5 * 0.2 * 0.8 = 0.08, w_2 = 0.8 * 0.8 = 0.64, w_3 = 0.2; sum 0.92.
    expectClose(method.selectionRatios(), [0.08 / 0.92, 0.64 / 0.92, 0.2 / 0.92], 1e-6);
    expect(method.selectionRatios()).toEqual(selectionRatios(method.gateValues()));
    method.dispose();
    deeper.dispose();
  });
});

describe('prompts entering a later block (promptBlock; GatedPT, Yoo et al. 2023, Figure 1)', () => {
  let deepModel: VisionTransformer;
  beforeEach(() => {
    deepModel = tinyModel({ ...TINY_VIT, depth: 4 });
  });
  afterEach(() => {
    for (const extension of [...deepModel.extensions]) deepModel.detach(extension);
    deepModel.dispose();
  });

  it('VPT-shallow: blocks before it see CLS and the patches alone; the prompts enter at its entry and flow on', () => {
    const alone = [0, 1, 2].map((block) => blockInputTokens(deepModel, images, block));
    const method = createVpt(deepModel, { numPrompts: 3, promptBlock: 2, seed: 1 });
    deepModel.attach(method);
    const pretrained = tf.tidy(() => deepModel.disableExtensions(() => values(deepModel.forward(images))));
    for (const block of [0, 1]) {
      const tokens = blockInputTokens(deepModel, images, block);
      expect(values(tokens)).toEqual(values(alone[block]!));
      tokens.dispose();
    }
    const entering = blockInputTokens(deepModel, images, 2);
    const prompts = method.promptSets()[0]!;
    expect(entering.shape).toEqual([2, 1 + 3 + PATCHES, DIM]);
    expect(slots(entering, 0, 1)).toEqual(slots(alone[2]!, 0, 1));
    expect(slots(entering, 1, 3)).toEqual([...prompts, ...prompts]);
    expect(slots(entering, 4, PATCHES)).toEqual(slots(alone[2]!, 1, PATCHES));
    const next = blockInputTokens(deepModel, images, 3);
    const reference = rawBlock(deepModel, 2, entering);
    expect(values(next)).toEqual(values(reference));
    expect(tf.tidy(() => values(deepModel.forward(images)))).not.toEqual(pretrained);
    tf.dispose([...alone, entering, next, reference]);
    method.dispose();
  });

  it('Gated Prompt Tuning: a gate after each block from the entry on (eq. 7); none where the prompts are not yet', () => {
    const method = createGatedPrompt(deepModel, { numPrompts: 3, promptBlock: 1, temperature: false, seed: 2 });
    expect(weightNames(method)).toEqual(['prompt_embeddings', 'gate_logit']);
    expect(method.numParameters()).toBe(3 * DIM + 2); // gates after blocks 2 and 3 (1-based)
    setWeights(method, { gate_logit: [0, Math.log(4)] }); // g = 0.5, 0.8
    expectClose(method.gateValues(), [0.5, 0.8], 1e-6);
    expectClose(method.selectionRatios(), selectionRatios([0.5, 0.8]), 1e-6);
    deepModel.attach(method);
    // Block 2's input: the prompts mixed by the gate after block 1 (1-based: block 2's gate feeds block 3).
    const input = blockInputTokens(deepModel, images, 1);
    const raw = rawBlock(deepModel, 1, input);
    const entering = blockInputTokens(deepModel, images, 2);
    const mixed = slots(raw, 1, 3).map((out, i) => 0.5 * out + 0.5 * slots(input, 1, 3)[i]!);
    expectClose(slots(entering, 1, 3), mixed);
    expect(slots(entering, 4, PATCHES)).toEqual(slots(raw, 4, PATCHES));
    const diagnostics = method.diagnostics({ model: deepModel, images, source: null, epoch: -1 });
    expect(diagnostics.find((record) => record.name === 'gate-selection-ratio')).toMatchObject({ firstBlock: 2, values: method.selectionRatios() });
    tf.dispose([input, raw, entering]);
    method.dispose();
    // Prompts entering the last block: no gate at all.
    const last = createGatedPrompt(deepModel, { numPrompts: 3, promptBlock: 3 });
    expect(weightNames(last)).toEqual(['prompt_embeddings', 'temp']);
    expect(last.gateValues()).toEqual([]);
    last.dispose();
  });

  it('composes only as the last token-inserting method, and refuses a block past the last', () => {
    const later = createVpt(deepModel, { numPrompts: 3, promptBlock: 1, seed: 1 });
    const first = createVpt(deepModel, { numPrompts: 2, seed: 2 });
    deepModel.attach(later);
    deepModel.attach(first);
    expect(() => deepModel.forward(images)).toThrow(ConfigError);
    expect(() => deepModel.forward(images)).toThrow(/^promptBlock must be 0 while vpt-shallow, attached after vpt-shallow, inserts tokens: attach vpt-shallow last, got 1$/);
    deepModel.detach(later);
    deepModel.attach(later);
    const entering = blockInputTokens(deepModel, images, 1);
    expect(entering.shape).toEqual([2, 1 + 2 + 3 + PATCHES, DIM]);
    const prompts = later.promptSets()[0]!;
    expect(slots(entering, 3, 3)).toEqual([...prompts, ...prompts]);
    entering.dispose();
    [later, first].forEach((method) => method.dispose());
    expect(() => createVpt(deepModel, { promptBlock: 4 })).toThrow(/^promptBlock must be a block index in \[0, 3\] \(the model has 4 blocks\), got 4$/);
  });
});

describe('Gated Prompt Tuning with hard gates', () => {
  /** Per seed, whether block 1 received block 0's output (gate 1) or its input (gate 0) in its prompt slots. */
  function gatesUsed(seeds: readonly (number | undefined)[], training: boolean): number[] {
    const image = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]);
    const input = blockInputTokens(model, image, 0);
    const raw = rawBlock(model, 0, input);
    const [opened, closed] = [slots(raw, 1, 2), slots(input, 1, 2)];
    const gates = seeds.map((seed) => {
      const received = blockInputTokens(model, image, 1, { training, seed });
      const gate = slots(received, 1, 2);
      received.dispose();
      const open = gate.every((x, i) => Math.abs(x - opened[i]!) < 1e-6);
      const shut = gate.every((x, i) => Math.abs(x - closed[i]!) < 1e-6);
      expect(open !== shut, `seed ${seed}: the gate must be exactly 0 or 1`).toBe(true);
      return open ? 1 : 0;
    });
    tf.dispose([image, input, raw]);
    return gates;
  }

  it('are 0 or 1 in evaluation by the sign of the logit', () => {
    for (const [logit, expected] of [[0.3, 1], [-0.3, 0]] as const) {
      const method = createGatedPrompt(model, { numPrompts: 2, hardGates: true, temperature: false, gateInit: -logit });
      expect(method.gateValues()).toEqual([expected]);
      model.attach(method);
      expect(gatesUsed([undefined], false)).toEqual([expected]);
      model.detach(method);
      method.dispose();
    }
  });

  it('sample 1 with probability sigmoid(gamma) in training (Gumbel-sigmoid), whatever its temperature', () => {
    const draws = 60;
    for (const gamma of [1.5, -1.5]) {
      const method = createGatedPrompt(model, { numPrompts: 2, hardGates: true, hardGateTemperature: 0.5, temperature: false, gateInit: -gamma });
      model.attach(method);
      const open = gatesUsed(Array.from({ length: draws }, (_, seed) => seed), true).reduce((sum, gate) => sum + gate, 0);
      // sigmoid(1.5) = 0.818: three standard deviations of the mean of 60 draws are 0.15, so a coin
      // flip (0.5) or the deterministic gate (1 or 0) fails.
      expect(Math.abs(open / draws - sigmoid(gamma))).toBeLessThan(0.15);
      model.detach(method);
      method.dispose();
    }
  });

  it('pass the straight-through gradient: that of the soft sigmoid(gamma / t)', () => {
    const t = 0.7;
    const gamma = 0.4;
    const method = createGatedPrompt(model, { numPrompts: 2, hardGates: true, hardGateTemperature: t, temperature: false, gateInit: -gamma });
    model.attach(method);
    const input = blockInputTokens(model, images, 0);
    const raw = rawBlock(model, 0, input);
    const difference = slots(raw, 1, 2).reduce((sum, out, i) => sum + out - slots(input, 1, 2)[i]!, 0);
    const gate = method.trainableVariables()[1]!;
    const { value, grads } = tf.variableGrads(() => {
      const { features, intermediates } = model.forwardIntermediates(images, { indices: [0], format: 'tokens' });
      features.dispose();
      return tf.sum(tf.slice(intermediates[0] as tf.Tensor3D, [0, 1, 0], [-1, 2, -1])) as tf.Scalar;
    }, [gate]);
    const soft = sigmoid(gamma / t);
    expect(grads[gate.name]!.dataSync()[0]! / ((difference * soft * (1 - soft)) / t)).toBeCloseTo(1, 3);
    tf.dispose([input, raw, value, ...Object.values(grads)]);
    method.dispose();
  });
});

import * as tf from '@tensorflow/tfjs-core';
import type { DiagnosticProbe, PerBlockDiagnostic, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { promptNmiAtBlock, promptNmiPerBlock } from './prompt-nmi';
import type { PromptTuning } from './prompt-tuning';
import { TEMPERATURE_RANGE, createGatedPrompt, createVpt } from './prompt-tuning';
import { selectionRatios } from './selection-ratio';

let model: VisionTransformer;
let probe: DiagnosticProbe;
let tensorsBefore: number;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  model = tinyModel({ ...TINY_VIT, depth: 4 });
  probe = { model, images: tf.randomNormal([3, 3, 32, 32], 0, 1, 'float32', 21) as tf.Tensor4D, source: null, epoch: 2 };
});
afterEach(() => {
  for (const extension of [...model.extensions]) model.detach(extension);
  model.dispose();
  probe.images.dispose();
  expect(tf.memory().numTensors, 'tensors left').toBe(tensorsBefore);
});

/** Every weight of a method, as host arrays. */
function snapshot(method: PromptTuning): Record<string, number[]> {
  const weights = method.weights();
  const out = Object.fromEntries([...weights].map(([key, value]) => [key, Array.from(value.dataSync())]));
  tf.dispose([...weights.values()]);
  return out;
}

describe('PromptTuning.diagnostics', () => {
  it('VPT: the NMI between its prompts and the patches entering block 1, as the app measured it, and entering every block', async () => {
    for (const deep of [false, true]) {
      const method = createVpt(model, { numPrompts: 4, deep, seed: 3 });
      model.attach(method);
      const diagnostics = await method.diagnostics(probe);
      expect(diagnostics.map((diagnostic) => [diagnostic.kind, diagnostic.name])).toEqual([
        ['scalar', 'prompt-patch-nmi'],
        ['per-block', 'prompt-patch-nmi-per-block'],
      ]);
      // What the benchmark computed each epoch: promptNmiAtBlock(model, images, { numPrompts }).mean.
      const appValue = promptNmiAtBlock(model, probe.images, { numPrompts: 4 }).mean;
      expect(diagnostics[0]).toMatchObject({ kind: 'scalar', value: appValue });
      expect(appValue).toBeGreaterThan(0);
      // Every block's value is the NMI of the tokens entering it, measured block by block.
      const perBlock = [0, 1, 2, 3].map((block) => promptNmiAtBlock(model, probe.images, { method, block }).mean);
      expect(diagnostics[1]).toMatchObject({ kind: 'per-block', firstBlock: 0, values: perBlock });
      // Deep prompts are replaced before every block, shallow ones flow on: the later values differ.
      expect(new Set(perBlock).size).toBe(4);
      model.detach(method);
      method.dispose();
    }
  });

  it('with prompts entering a later block: the NMI from that block on, and refuses the blocks before it', async () => {
    const method = createGatedPrompt(model, { numPrompts: 4, promptBlock: 2, seed: 3 });
    model.attach(method);
    const diagnostics = await method.diagnostics(probe);
    const atEntry = promptNmiAtBlock(model, probe.images, { method, block: 2 }).mean;
    expect(diagnostics[0]).toMatchObject({ name: 'prompt-patch-nmi', value: atEntry });
    expect(diagnostics[0]!.title).toMatch(/entering block 3 /);
    expect(diagnostics[1]).toMatchObject({ name: 'prompt-patch-nmi-per-block', firstBlock: 2, values: [atEntry, promptNmiAtBlock(model, probe.images, { method, block: 3 }).mean] });
    expect(diagnostics.find((record) => record.name === 'gate-selection-ratio')).toMatchObject({ firstBlock: 3, values: [1] });
    expect(() => promptNmiAtBlock(model, probe.images, { method, block: 1 })).toThrow(
      /^block must be a block the prompts have entered \(it receives 17 tokens, not the 21 of CLS, every method's prompts and the patches\), got 1$/,
    );
    expect(() => promptNmiPerBlock(model, probe.images, { method, firstBlock: 4 })).toThrow(/^firstBlock must be a block index in \[0, 3\], got 4$/);
    method.dispose();
  });

  it('Gated Prompt Tuning: also the gates’ selection ratios (from block 1) and the temperatures the forward pass uses (from block 0)', async () => {
    const method = createGatedPrompt(model, { numPrompts: 4, seed: 3 });
    const weights = method.weights();
    const [gateLogit, temp] = [weights.get('gate_logit')!, weights.get('temp')!];
    weights.set('gate_logit', tf.tensor1d([0, Math.log(4), -Math.log(4)])); // g = 0.5, 0.8, 0.2
    weights.set('temp', tf.tensor1d([0.001, 0.5, 2, 50])); // out of range at both ends, as after an optimiser step
    method.loadWeights(weights);
    tf.dispose([...weights.values(), gateLogit, temp]);
    model.attach(method);
    const diagnostics = await method.diagnostics(probe);
    expect(diagnostics.map((diagnostic) => diagnostic.name)).toEqual(['prompt-patch-nmi', 'prompt-patch-nmi-per-block', 'gate-selection-ratio', 'attention-temperature']);
    const [nmi, , ratios, temperatures] = diagnostics;
    // What the app read after training and evaluating: selectionRatios() and temperatures() after a forward pass (which clamps).
    tf.tidy(() => void model.forward(probe.images));
    expect(nmi).toMatchObject({ value: promptNmiAtBlock(model, probe.images, { numPrompts: 4 }).mean });
    expect(ratios).toMatchObject({ kind: 'per-block', firstBlock: 1, values: method.selectionRatios() });
    // w_1 = 0.5 * 0.2 * 0.8 = 0.08, w_2 = 0.8 * 0.8 = 0.64, w_3 = 0.2; sum 0.92 (eq. 10-11).
    const expectedRatios = selectionRatios([0.5, 0.8, 0.2]);
    (ratios as PerBlockDiagnostic).values.forEach((ratio, index) => expect(ratio).toBeCloseTo(expectedRatios[index]!, 6));
    expect(temperatures).toMatchObject({ kind: 'per-block', firstBlock: 0, values: method.temperatures() });
    expect((temperatures as PerBlockDiagnostic).values).toEqual([TEMPERATURE_RANGE[0], 0.5, 2, TEMPERATURE_RANGE[1]].map(Math.fround));
    for (const diagnostic of diagnostics) {
      expect(diagnostic.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(diagnostic.title).toMatch(/GatedPT|SPT/);
    }
    model.detach(method);
    method.dispose();
  });

  it('lists only what the configuration has: no gates, no ratios; no temperatures, none of them', async () => {
    const gatesOnly = createGatedPrompt(model, { numPrompts: 2, temperature: false });
    const temperaturesOnly = createGatedPrompt(model, { numPrompts: 2, gates: false, seed: 1 });
    model.attach(gatesOnly);
    model.attach(temperaturesOnly);
    expect((await gatesOnly.diagnostics(probe)).map((diagnostic) => diagnostic.name)).toEqual(['prompt-patch-nmi', 'prompt-patch-nmi-per-block', 'gate-selection-ratio']);
    expect((await temperaturesOnly.diagnostics(probe)).map((diagnostic) => diagnostic.name)).toEqual(['prompt-patch-nmi', 'prompt-patch-nmi-per-block', 'attention-temperature']);
    [gatesOnly, temperaturesOnly].forEach((method) => method.dispose());
  });

  it('changes neither the method nor what the model computes, and leaks no tensor', async () => {
    const method = createGatedPrompt(model, { numPrompts: 4, dropout: 0.1, gateInit: 2 });
    model.attach(method);
    const before = snapshot(method);
    const logits = tf.tidy(() => Array.from(model.forward(probe.images).dataSync()));
    const tensors = tf.memory().numTensors;
    await method.diagnostics(probe);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(snapshot(method)).toEqual(before);
    expect(tf.tidy(() => Array.from(model.forward(probe.images).dataSync()))).toEqual(logits);
    method.dispose();
  });

  it('needs the method attached to the probe’s model and switched on', () => {
    const method = createVpt(model, { numPrompts: 2 });
    expect(() => method.diagnostics(probe)).toThrow(ConfigError);
    model.attach(method);
    expect(() => model.disableExtensions(() => method.diagnostics(probe), [method])).toThrow(/^method must insert tokens and be switched on/);
    method.dispose();
  });
});

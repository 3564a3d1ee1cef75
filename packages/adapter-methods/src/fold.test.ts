import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import type { TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { getStateDict, loadStateDict } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { createAdapter } from './adapter';
import { createAdaptFormer } from './adaptformer';
import { NotMergeableError, foldedStateDict } from './fold';
import { createLora, mergeLora } from './lora';
import { createSsf } from './ssf';
import { maxAbsDiff, perturb, useTinyModel } from './__fixtures__/test-kit';

/** The logits a fresh model of the same config computes from `stateDict` alone. */
function logitsOfStateDict(model: VisionTransformer, input: tf.Tensor4D): tf.Tensor {
  const plain = tinyModel(TINY_VIT, 99);
  try {
    loadStateDict(plain, foldedStateDict(model));
    return plain.forward(input);
  } finally {
    plain.dispose();
  }
}

describe('foldedStateDict', () => {
  const kit = useTinyModel();

  const attachTrained = (methods: TuningMethod[]) => {
    methods.forEach((method, index) => {
      perturb(method.trainableVariables(), 0.2, 11 + 10 * index);
      kit.model.attach(method);
    });
  };

  for (const order of [['lora', 'ssf'], ['ssf', 'lora']] as const) {
    it(`folds ${order.join(' then ')} into a plain state dict that gives the tuned logits, leaving the model as it was`, () => {
      const methods = order.map((name) => (name === 'lora' ? createLora(kit.model, { rank: 2, alpha: 3 }) : createSsf(kit.model, { initStd: 0.1 })));
      attachTrained(methods);
      const tuned = kit.model.forward(kit.input);
      const backboneBefore = getStateDict(kit.model);
      const tensorsBefore = tf.memory().numTensors;
      const exported = logitsOfStateDict(kit.model, kit.input);
      expect(tf.memory().numTensors).toBe(tensorsBefore + 1);
      // The methods change the logits by order 1; folding leaves float rounding only.
      const pretrained = kit.model.disableExtensions(() => kit.model.forward(kit.input));
      expect(maxAbsDiff(tuned, pretrained)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(tuned, exported)).toBeLessThan(2e-5);
      // Nothing of the model changed: same weights, methods still attached, same logits.
      const backboneAfter = getStateDict(kit.model);
      for (const [key, value] of backboneBefore) expect(backboneAfter.get(key)!.data, key).toEqual(value.data);
      expect(kit.model.extensions).toEqual(methods);
      const again = kit.model.forward(kit.input);
      expect(maxAbsDiff(tuned, again)).toBe(0);
      methods.forEach((method) => {
        kit.model.detach(method);
        method.dispose();
      });
      tf.dispose([tuned, exported, again, pretrained]);
    });
  }

  it('folds SSF into fc_norm on an average-pooled model without a class token', () => {
    const model = tinyModel({ ...TINY_VIT, globalPool: 'avg', classToken: false }, 5);
    const ssf = createSsf(model, { initStd: 0.2 });
    const lora = createLora(model, { rank: 2 });
    perturb(lora.trainableVariables(), 0.2, 3);
    model.attach(ssf);
    model.attach(lora);
    expect(ssf.targets.at(-1)!.key).toBe('fc_norm');
    const tuned = model.forward(kit.input);
    const stateDict = foldedStateDict(model);
    expect(stateDict.has('fc_norm.weight') && !stateDict.has('norm.weight') && !stateDict.has('cls_token')).toBe(true);
    const plain = tinyModel({ ...TINY_VIT, globalPool: 'avg', classToken: false }, 6);
    loadStateDict(plain, stateDict);
    const exported = plain.forward(kit.input);
    expect(maxAbsDiff(tuned, exported)).toBeLessThan(2e-5);
    [ssf, lora].forEach((method) => {
      model.detach(method);
      method.dispose();
    });
    tf.dispose([tuned, exported]);
    model.dispose();
    plain.dispose();
  });

  it('writes timm names and shapes, the head included, and keeps bias-trained (BitFit) weights as they are', () => {
    const bias = kit.model.parameters.find((parameter) => parameter.key === 'blocks.1.mlp.fc2.bias')!;
    tf.tidy(() => bias.variable.assign(tf.add(bias.variable, 0.5)));
    const lora = createLora(kit.model, { rank: 2 });
    attachTrained([lora]);
    const stateDict = foldedStateDict(kit.model);
    expect([...stateDict.keys()]).toEqual(kit.model.parameters.map((parameter) => parameter.key));
    expect(stateDict.get('blocks.0.attn.qkv.weight')!.shape).toEqual([96, 32]);
    expect(stateDict.get('patch_embed.proj.weight')!.shape).toEqual([32, 3, 8, 8]);
    expect(stateDict.get('head.weight')!.shape).toEqual([5, 32]);
    expect(stateDict.get('blocks.1.mlp.fc2.bias')!.data).toEqual(getStateDict(kit.model).get('blocks.1.mlp.fc2.bias')!.data);
    // k's third of qkv is untouched by LoRA on q and v; q's third moved.
    const plain = getStateDict(kit.model).get('blocks.0.attn.qkv.weight')!.data;
    const folded = stateDict.get('blocks.0.attn.qkv.weight')!.data;
    expect(folded.slice(32 * 32, 64 * 32)).toEqual(plain.slice(32 * 32, 64 * 32));
    expect(folded.slice(0, 32 * 32)).not.toEqual(plain.slice(0, 32 * 32));
    kit.model.detach(lora);
    lora.dispose();
  });

  it('counts a method merged already once: the merged model exports what it computes', () => {
    const lora = createLora(kit.model, { rank: 2 });
    attachTrained([lora]);
    const tuned = kit.model.forward(kit.input);
    mergeLora(kit.model, lora);
    const exported = logitsOfStateDict(kit.model, kit.input);
    expect(maxAbsDiff(tuned, exported)).toBeLessThan(2e-5);
    kit.model.attach(lora);
    expect(() => foldedStateDict(kit.model)).toThrow(/attached and merged at the same time/);
    kit.model.detach(lora);
    lora.dispose();
    tf.dispose([tuned, exported]);
  });

  it('refuses a method that does not fold, before computing anything, and says what export does instead', () => {
    const lora = createLora(kit.model);
    const adapter = createAdapter(kit.model);
    const adaptformer = createAdaptFormer(kit.model);
    kit.model.attach(lora);
    kit.model.attach(adapter);
    const tensorsBefore = tf.memory().numTensors;
    expect(() => foldedStateDict(kit.model)).toThrow(NotMergeableError);
    expect(() => foldedStateDict(kit.model)).toThrow(/^adapter does not fold into the backbone's weights: its bottleneck has a GELU.*official code's parameter names\)$/);
    kit.model.detach(adapter);
    kit.model.attach(adaptformer);
    expect(() => foldedStateDict(kit.model)).toThrow(/adaptformer .*ReLU/);
    kit.model.detach(adaptformer);
    const other = { name: 'prompt-like' };
    kit.model.attach(other);
    let error: unknown;
    try {
      foldedStateDict(kit.model);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NotMergeableError);
    expect((error as NotMergeableError).method).toBe('prompt-like');
    expect((error as NotMergeableError).reason).toMatch(/not LoRA or SSF/);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    kit.model.detach(other);
    kit.model.detach(lora);
    [lora, adapter, adaptformer].forEach((method) => method.dispose());
  });
});

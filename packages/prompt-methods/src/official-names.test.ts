import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@visual-peft/vit-core';
import { checkOfficialRoundTrip, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { PROMPT_METHOD_DEFINITIONS } from './definitions';
import { GATED_PROMPT_OFFICIAL_NAMES, VPT_DEEP_OFFICIAL_NAMES, VPT_SHALLOW_OFFICIAL_NAMES } from './official-names';

const definition = (name: string) => PROMPT_METHOD_DEFINITIONS.find((candidate) => candidate.name === name)!;

describe('prompt methods under their official parameter names', () => {
  for (const [method, names, options, expected] of [
    ['vpt-shallow', VPT_SHALLOW_OFFICIAL_NAMES, { numPrompts: 3 }, { 'enc.transformer.prompt_embeddings': [1, 3, 32] }],
    ['vpt-deep', VPT_DEEP_OFFICIAL_NAMES, { numPrompts: 2 }, { 'enc.transformer.prompt_embeddings': [1, 2, 32], 'enc.transformer.deep_prompt_embeddings': [1, 2, 32] }],
    ['gated-prompt', GATED_PROMPT_OFFICIAL_NAMES, { numPrompts: 2 }, { 'enc.prompt_embeddings': [1, 2, 32], 'enc.gate_logit': [1], 'enc.temp': [2] }],
  ] as const) {
    it(`writes ${method}'s tensors as the official code names and shapes them, reads them back, and reads its sizes`, () => {
      const before = tf.memory().numTensors;
      const model = tinyModel();
      const created = definition(method).create(model, options);
      try {
        expect(definition(method).officialNames).toBe(names);
        const official = checkOfficialRoundTrip(model, created, names);
        const shapes = Object.fromEntries([...official].map(([key, tensor]) => [key, tensor.shape]));
        expect(shapes).toEqual({ ...expected, 'head.last_layer.weight': [5, 32], 'head.last_layer.bias': [5] });
        expect(names.sizes((key) => official.get(key), 2)).toMatchObject({ numPrompts: options.numPrompts });
      } finally {
        created.dispose();
        model.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('refuses prompts entering a later block: the official code prepends them before the first', () => {
    const model = tinyModel();
    const created = definition('vpt-shallow').create(model, { promptBlock: 1 });
    try {
      expect(() => checkOfficialRoundTrip(model, created, VPT_SHALLOW_OFFICIAL_NAMES)).toThrow(ConfigError);
      expect(() => checkOfficialRoundTrip(model, created, VPT_SHALLOW_OFFICIAL_NAMES)).toThrow(/vpt-shallow option promptBlock must be 0 to be written under the official code's names \(KMnP\/vpt@7f3942e\w+ has no other\), got 1/);
    } finally {
      created.dispose();
      model.dispose();
    }
  });
});

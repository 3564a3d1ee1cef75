import type { VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';
import { tinyModel } from '@visual-peft/method-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROMPT_METHOD_DEFINITIONS } from './definitions';
import type { PromptTuning } from './prompt-tuning';

const definition = (name: string) => PROMPT_METHOD_DEFINITIONS.find((entry) => entry.name === name)!;

describe('PROMPT_METHOD_DEFINITIONS', () => {
  let model: VisionTransformer;
  beforeAll(() => (model = tinyModel()));
  afterAll(() => model.dispose());

  it('names vpt-shallow, vpt-deep and gated-prompt, each training the head alongside', () => {
    expect(PROMPT_METHOD_DEFINITIONS.map((entry) => entry.name)).toEqual(['vpt-shallow', 'vpt-deep', 'gated-prompt']);
    PROMPT_METHOD_DEFINITIONS.forEach((entry) => {
      expect(entry.policy).toBe('linear');
      expect(entry.description.length).toBeGreaterThan(20);
    });
  });

  it('builds each method from plain options, Self-Prompt Tuning as an init of any of them', () => {
    const shallow = definition('vpt-shallow').create(model, { numPrompts: 10 }) as PromptTuning;
    const deep = definition('vpt-deep').create(model, { numPrompts: 10, init: 'kmeans' }) as PromptTuning;
    const gated = definition('gated-prompt').create(model, { numPrompts: 10, gates: false, init: 'random-token' }) as PromptTuning;
    expect([shallow.name, deep.name, gated.name]).toEqual(['vpt-shallow', 'vpt-deep', 'gated-prompt']);
    expect([shallow.numParameters(), deep.numParameters(), gated.numParameters()]).toEqual([10 * 32, 2 * 10 * 32, 10 * 32 + 2]);
    expect([shallow.prepared, deep.prepared, gated.prepared]).toEqual([true, false, false]);
    expect(deep.config).toMatchObject({ deep: true, init: 'kmeans' });
    [shallow, deep, gated].forEach((method) => method.dispose());
  });

  it('rebuilds each method from its own saved config (what reloading tuned weights does)', () => {
    for (const entry of PROMPT_METHOD_DEFINITIONS) {
      const method = entry.create(model, { numPrompts: 3 }) as PromptTuning;
      const again = entry.create(model, method.config) as PromptTuning;
      expect(again.config, entry.name).toEqual(method.config);
      [method, again].forEach((built) => built.dispose());
    }
  });

  it('refuses unknown options and a deep flag that contradicts the name', () => {
    expect(() => definition('vpt-shallow').create(model, { deep: true })).toThrow(ConfigError);
    expect(() => definition('vpt-deep').create(model, { deep: false })).toThrow(/^deep is set by the method name \(vpt-shallow or vpt-deep\), got false$/);
    expect(() => definition('gated-prompt').create(model, { rank: 4 })).toThrow(/^gated-prompt.rank is not an option/);
    expect(() => definition('vpt-deep').create(model, { numPrompts: 'ten' })).toThrow(/^numPrompts must be an integer >= 1, got "ten"$/);
  });
});

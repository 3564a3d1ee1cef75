import * as tf from '@tensorflow/tfjs-core';
import type { VitConfigInput } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, countDeclaredParameters, countParameters, resolveVitConfig } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { METHODS, buildMethod, declareMethod, disposeMethods } from '../methods';
import { runCli } from '../run-cli';
import type { OptionValue } from '../set-options';

/** Option sets per method: the defaults and the options that change which variables exist or their shapes. */
const OPTIONS: Record<string, readonly Record<string, OptionValue | number[]>[]> = {
  linear: [{}],
  full: [{}],
  bias: [{}],
  adapter: [{}, { bottleneck: 3 }],
  adaptformer: [{}, { layerNorm: 'in' }, { layerNorm: 'out', bottleneck: 5 }],
  lora: [{}, { rank: 2 }],
  ssf: [{}],
  sct: [{}, { k: '8,16', lastBlocks: 2, position: 'both' }, { k: 4, selection: 'random' }, { k: 6, position: 'mlp', score: 'dataset' }],
  'vpt-shallow': [{}, { numPrompts: 7, init: 'kmeans' }],
  'vpt-deep': [{}, { numPrompts: 3 }],
  'gated-prompt': [{}, { gates: false }, { temperature: false }, { promptBlock: 1 }, { promptBlock: 2 }],
  vqt: [{}, { numQueries: [1, 2, 3] }, { numClasses: 4 }],
};

/** Small backbones that differ in every switch that changes the backbone's or a method's shapes. */
const BACKBONES: readonly VitConfigInput[] = [
  { imgSize: 32, patchSize: 8, embedDim: 128, depth: 3, numHeads: 4, numClasses: 5 },
  { imgSize: [32, 48], patchSize: 16, embedDim: 96, depth: 3, numHeads: 2, mlpRatio: 2, numClasses: 3, qkvBias: false, classToken: false, globalPool: 'avg' },
  { imgSize: 32, patchSize: 8, embedDim: 96, depth: 3, numHeads: 4, numClasses: 7, globalPool: 'avg', fcNorm: false },
];

describe('params counts from declared shapes what the built model and method hold', () => {
  it('covers every method the app knows', () => {
    expect(Object.keys(OPTIONS).sort()).toEqual([...METHODS.keys()].sort());
  });

  for (const [name, optionSets] of Object.entries(OPTIONS)) {
    it(`${name}: every option set on every backbone`, () => {
      const entry = METHODS.get(name)!;
      for (const input of BACKBONES) {
        const config = resolveVitConfig(input);
        const model = new VisionTransformer(config, { weights: 'zeros' });
        try {
          applyTrainablePolicy(model, entry.policy);
          for (const options of optionSets) {
            // A list (VQT's queries per block) reaches a definition from a suite file, not from --set.
            const given = options as Record<string, OptionValue>;
            const declared = countDeclaredParameters(config, entry.policy, declareMethod(entry, config, given));
            const methods = buildMethod(entry, model, given);
            const built = countParameters(model, methods);
            disposeMethods(model, methods);
            expect(declared, `${name} ${JSON.stringify(options)} on ${JSON.stringify(input)}`).toEqual(built);
          }
        } finally {
          model.dispose();
        }
      }
    });
  }
});

describe('params builds no tensor', () => {
  it('counts ViT-B with 100,000 VPT-deep prompts per block (3.7 GB of float32 prompts) without creating one', async () => {
    const before = tf.scalar(0);
    const { code, stdout, stderr } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'vpt-deep', '--set', 'numPrompts=100000');
    const after = tf.scalar(0);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    // The first prompt set and 11 deep ones: 12 x 100,000 x 768.
    expect(JSON.parse(stdout[0]!)).toMatchObject({ extra: 12 * 100_000 * 768, trainableBackbone: 0 });
    // Tensor ids count every tensor and variable created in between: none was.
    expect(after.id - before.id).toBe(1);
    tf.dispose([before, after]);
  });
});

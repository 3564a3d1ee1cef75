import type { BatchSource, MethodDefinition } from '@visual-peft/vit-core';
import { TINY_VIT, describeMethodContract, tinyModel } from '@visual-peft/method-testing';
import { beforeAll } from 'vitest';
import { PROMPT_METHOD_DEFINITIONS } from './definitions';
import { createVpt } from './prompt-tuning';
import { selfPromptInit } from './self-prompt';

const DIM = 32; // TINY_VIT.embedDim
const [VPT_SHALLOW, VPT_DEEP, GATED_PROMPT] = PROMPT_METHOD_DEFINITIONS as [MethodDefinition, MethodDefinition, MethodDefinition];

/** Eight deterministic 32x32 images in two batches. */
const trainingImages: BatchSource = async function* () {
  for (let batch = 0; batch < 2; batch++) {
    const images = Float32Array.from({ length: 4 * 3 * 32 * 32 }, (_, i) => Math.sin(0.37 * i + batch) + Math.cos(0.011 * i * (batch + 1)));
    yield { images, labels: new Int32Array(4), shape: [4, 3, 32, 32] as const };
  }
};

/** Fewer, larger steps than the table's default 40 at 1e-2: the loss still has to fall by 10%. */
const training = { steps: 12, learningRate: 0.05 };

let kmeansPrompts: Float32Array[] = [];
beforeAll(async () => {
  const model = tinyModel(TINY_VIT);
  kmeansPrompts = (await selfPromptInit(model, trainingImages, { strategy: 'kmeans', numPrompts: 4, seed: 3 })).prompts;
  model.dispose();
});

describeMethodContract([
  { name: 'vpt-shallow, 4 prompts', declared: { definition: VPT_SHALLOW, options: { numPrompts: 4 } }, expectedParameters: 4 * DIM, training },
  { name: 'vpt-deep, 3 prompts per block', declared: { definition: VPT_DEEP, options: { numPrompts: 3, dropout: 0.1 } }, expectedParameters: 2 * 3 * DIM, training },
  {
    name: 'gated-prompt, gates and temperatures',
    declared: { definition: GATED_PROMPT, options: { numPrompts: 4, gateInit: 1, dropout: 0.1 } },
    expectedParameters: 4 * DIM + 1 + 2,
    training,
  },
  { name: 'gated-prompt, gates only', declared: { definition: GATED_PROMPT, options: { numPrompts: 4, gateInit: 2, temperature: false } }, expectedParameters: 4 * DIM + 1, training },
  { name: 'gated-prompt, temperatures only', declared: { definition: GATED_PROMPT, options: { numPrompts: 4, gates: false } }, expectedParameters: 4 * DIM + 2, training },
  {
    // Straight-through gradients are not the derivative of the 0/1 forward, so finite differences
    // can only agree where they are negligible: gateInit 10 (see prompt-tuning.test.ts for the estimator itself).
    name: 'gated-prompt, hard (Gumbel-sigmoid) gates',
    declared: { definition: GATED_PROMPT, options: { numPrompts: 4, hardGates: true } },
    expectedParameters: 4 * DIM + 1 + 2,
    training,
  },
  {
    // GatedPT's Figure 1 sweep: prompts first meet block 2 of 3, so one gate (after block 2) and 3 temperatures.
    name: 'gated-prompt, prompts entering block 2 (promptBlock 1)',
    config: { ...TINY_VIT, depth: 3 },
    declared: { definition: GATED_PROMPT, options: { numPrompts: 4, gateInit: 1, promptBlock: 1 } },
    expectedParameters: 4 * DIM + 1 + 3,
    training,
  },
  {
    name: 'vpt-shallow initialised by Self-Prompt Tuning (k-means)',
    declared: { definition: VPT_SHALLOW, options: { numPrompts: 4, init: 'kmeans', seed: 3 } },
    create: (model) => {
      const method = createVpt(model, { numPrompts: 4, init: 'kmeans', seed: 3 });
      method.setPromptSets(kmeansPrompts);
      return method;
    },
    expectedParameters: 4 * DIM,
    training,
  },
]);

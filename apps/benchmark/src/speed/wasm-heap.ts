import type { VisionTransformer } from '@visual-peft/vit-core';
import { WASM_HEAP_LIMIT } from '../step/micro-batch';
import { profileStep } from '../step/profile-step';
import { trainingStep } from '../step/training-step';
import type { Plan } from './plan';

/**
 * The largest batch up to the plan's step batch whose step should fit the wasm heap, from one step at batch 1.
 * tfjs keeps every activation saved for the backward pass and every intermediate gradient until
 * the pass ends (about 1 GiB per ViT-B image when gradients flow through the whole backbone), so
 * such a step at batch 8 cannot fit. tf.memory()'s peak counts a buffer once per tensor viewing it,
 * so the estimate errs on the small side. Runs on the wasm backend only.
 */
export async function batchThatFits(plan: Plan, model: VisionTransformer, method: string): Promise<number> {
  const probe = await trainingStep(model, method, 1, { recompute: plan.recompute });
  try {
    if (probe.stateBytes >= WASM_HEAP_LIMIT) return 0;
    const perImage = Math.max((await profileStep(probe.run)).peakBytes - probe.stateBytes, 1);
    return Math.min(plan.stepBatch, Math.floor((WASM_HEAP_LIMIT - probe.stateBytes) / perImage));
  } finally {
    probe.dispose();
  }
}

import type { LoadOptions, VitConfigInput } from '@visual-peft/vit-core';
import { oneOf } from '@visual-peft/vit-core';

/** The pretraining behind a ViT-B/16 checkpoint, which decides what the classifier reads. */
export type BackboneFamily = 'supervised' | 'moco-v3' | 'mae';

/** The prompt methods as the papers set up the head: VPT, or Gated Prompt Tuning and Self-Prompt Tuning. */
export type PromptHeadMethod = 'vpt' | 'gated-prompt' | 'self-prompt';

export interface PromptHeadRecipe {
  /** Pooling fields for the backbone's `VitConfig`. */
  readonly vit: Required<Pick<VitConfigInput, 'globalPool' | 'fcNorm'>>;
  /** What `loadCheckpoint` / `loadStateDict` does with the checkpoint's final norm. */
  readonly load: Required<Pick<LoadOptions, 'fcNorm'>>;
}

/**
 * The head's input per backbone family, as the prompt papers build it. Supervised and MoCo v3:
 * the final LayerNorm on every token, then CLS. MAE: the mean over every non-CLS token (prompts
 * included), then a LayerNorm: the pretrained final `norm` (GatedPT, SPT) or a fresh `fc_norm`
 * kept at gamma 1, beta 0 (VPT). Use as
 * `new VisionTransformer({ ...preset, ...recipe.vit })` and `loadCheckpoint(model, path, { ...recipe.load })`.
 */
export function promptHeadRecipe(family: BackboneFamily, method: PromptHeadMethod): PromptHeadRecipe {
  oneOf('family', family, ['supervised', 'moco-v3', 'mae'] as const);
  oneOf('method', method, ['vpt', 'gated-prompt', 'self-prompt'] as const);
  if (family !== 'mae') return { vit: { globalPool: 'token', fcNorm: false }, load: { fcNorm: 'checkpoint' } };
  return { vit: { globalPool: 'avg', fcNorm: true }, load: { fcNorm: method === 'vpt' ? 'fresh' : 'from-norm' } };
}

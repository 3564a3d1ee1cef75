import type { VitConfigInput } from '@visual-peft/vit-core';
import type { MaeConfig } from './masked-autoencoder';

/**
 * The demo's small ViT: Fashion-MNIST's 28x28 images (grayscale replicated to RGB by the data
 * pipeline) in 7x7 patches (16 tokens and CLS), 64 wide, 4 blocks of 4 heads.
 */
export const DEMO_VIT_CONFIG = {
  imgSize: 28,
  patchSize: 7,
  inChans: 3,
  embedDim: 64,
  depth: 4,
  numHeads: 4,
  mlpRatio: 4,
  numClasses: 0,
} as const satisfies VitConfigInput;

export const PRETRAIN_KINDS = ['mae', 'supervised'] as const;
export type PretrainKind = (typeof PRETRAIN_KINDS)[number];

/** Every hyperparameter of a pretraining run; recipe.json records it. */
export interface PretrainRecipe {
  readonly kind: PretrainKind;
  readonly epochs: number;
  readonly batchSize: number;
  /** AdamW, decoupled weight decay; no decay on biases, norms, CLS and mask tokens. */
  readonly optimizer: { readonly kind: 'adamw'; readonly learningRate: number; readonly weightDecay: number; readonly betas: readonly [number, number] };
  /** Linear warm-up, then a half cosine down to minLr, both per step. */
  readonly schedule: { readonly kind: 'cosine'; readonly unit: 'step'; readonly warmupEpochs: number; readonly minLr: number };
  readonly seed: number;
  /** Supervised only. */
  readonly labelSmoothing: number;
  /** MAE only. */
  readonly mae: MaeConfig | null;
}

/**
 * MAE follows the paper's recipe (mask 75%, normalised-pixel loss, AdamW betas (0.9, 0.95), weight
 * decay 0.05, warm-up then cosine per step) with a learning rate for a short run of a small model.
 * Supervised pretraining uses AdamW, weight decay 0.05 and label smoothing 0.1, as DeiT. The epochs
 * are what produced the committed demo backbones within the 2-core budget (about 35 s per MAE epoch
 * and 15 s per supervised epoch of 5,000 images on wasm).
 */
export function defaultRecipe(kind: PretrainKind): PretrainRecipe {
  const common = { batchSize: 128, seed: 0 } as const;
  if (kind === 'mae') {
    return {
      ...common,
      kind,
      epochs: 20,
      optimizer: { kind: 'adamw', learningRate: 2e-3, weightDecay: 0.05, betas: [0.9, 0.95] },
      schedule: { kind: 'cosine', unit: 'step', warmupEpochs: 2, minLr: 1e-5 },
      labelSmoothing: 0,
      mae: { maskRatio: 0.75, normPixLoss: true, decoder: { embedDim: 64, depth: 2, numHeads: 4 } },
    };
  }
  return {
    ...common,
    kind,
    epochs: 8,
    optimizer: { kind: 'adamw', learningRate: 1e-3, weightDecay: 0.05, betas: [0.9, 0.999] },
    schedule: { kind: 'cosine', unit: 'step', warmupEpochs: 0, minLr: 1e-5 },
    labelSmoothing: 0.1,
    mae: null,
  };
}

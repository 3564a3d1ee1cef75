import type { OfficialNames } from '@visual-peft/vit-core';
import { officialDim } from '@visual-peft/vit-core';

/**
 * VQT as its official code names it. H2TViT keeps the ViT as `enc` (Head2ToeVisionTransformer:
 * transformer.encoder.query_prompt_embeddings [L, T, D]) and VPT's MLP head as `head`; the kept
 * features are the forward's `feat_select_ids` argument.
 */
export const VQT_OFFICIAL_NAMES: OfficialNames = {
  method: 'vqt',
  source:
    'andytu28/VQT@b5de9a6986ebfccf43037ab154702e22932e9b5f: src/models/vit_backbones/h2t_vit.py (Head2ToeEncoder.query_prompt_embeddings), src/models/build_h2t_model.py (H2TViT: enc, head = MLP), head2toe_sparsity_train.py (feat_select_ids)',
  tensors: [
    { tuned: 'vqt/blocks.{i}.queries', official: 'enc.transformer.encoder.query_prompt_embeddings', stack: true },
    { tuned: 'vqt/head.weight', official: 'head.last_layer.weight' },
    { tuned: 'vqt/head.bias', official: 'head.last_layer.bias' },
    { tuned: 'vqt/head.features', official: 'feat_select_ids' },
  ],
  // VQT classifies with its own head; the backbone's stays unused.
  unused: ['head.weight', 'head.bias'],
  requires: {},
  sizes: (official) => ({
    numQueries: officialDim(official('enc.transformer.encoder.query_prompt_embeddings'), 1),
    numClasses: officialDim(official('head.last_layer.weight'), 0),
  }),
};

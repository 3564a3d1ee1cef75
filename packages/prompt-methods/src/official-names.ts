import type { OfficialNames } from '@visual-peft/vit-core';
import { officialDim } from '@visual-peft/vit-core';

/** VPT's classifier in its official code: `ViT.head = MLP(...)` with no hidden layer (MLP_NUM 0), its `last_layer` only. */
const VPT_HEAD = [
  { tuned: 'head.weight', official: 'head.last_layer.weight' },
  { tuned: 'head.bias', official: 'head.last_layer.bias' },
] as const;

const VPT_SOURCE =
  'KMnP/vpt@7f3942e49fb062818f17fa11ec4b6d371ef962c8: src/models/vit_prompt/vit.py (PromptedTransformer: prompt_embeddings [1, P, D], deep_prompt_embeddings [L-1, P, D]; ' +
  'PromptedVisionTransformer.transformer), src/models/vit_models.py (ViT: enc, head = MLP), src/models/mlp.py (last_layer)';

/** VPT's prompts under its official names: the supervised ViT wraps the prompted transformer as `enc.transformer`. */
function vptNames(method: 'vpt-shallow' | 'vpt-deep'): OfficialNames {
  return {
    method,
    source: VPT_SOURCE,
    tensors: [
      { tuned: `${method}/prompt_embeddings`, official: 'enc.transformer.prompt_embeddings' },
      ...(method === 'vpt-deep' ? [{ tuned: `${method}/deep_prompt_embeddings`, official: 'enc.transformer.deep_prompt_embeddings' }] : []),
      ...VPT_HEAD,
    ],
    unused: [],
    // The code prepends the prompts after CLS before the first block (LOCATION 'prepend', no projection: PROJECT -1).
    requires: { promptBlock: 0 },
    sizes: (official) => ({ numPrompts: officialDim(official('enc.transformer.prompt_embeddings'), 1) }),
  };
}

/** VPT-shallow as KMnP/vpt names it: `enc.transformer.prompt_embeddings` and the MLP head's `last_layer`. */
export const VPT_SHALLOW_OFFICIAL_NAMES: OfficialNames = vptNames('vpt-shallow');

/** VPT-deep as KMnP/vpt names it: also `enc.transformer.deep_prompt_embeddings` (one prompt set per block after the first). */
export const VPT_DEEP_OFFICIAL_NAMES: OfficialNames = vptNames('vpt-deep');

/** Gated Prompt Tuning as its official code names it (SSLViT: the prompted MAE/MoCo encoder as `enc`, VPT's MLP head as `head`). */
export const GATED_PROMPT_OFFICIAL_NAMES: OfficialNames = {
  method: 'gated-prompt',
  source:
    'ryongithub/GatedPromptTuning@a9200bbbba91cbcb0fc501c591689ea6d0971432: src/models/vit_prompt/vit_mae.py (prompt_embeddings, temp, gate_logit), src/models/vit_models.py (enc, head = MLP), KMnP/vpt src/models/mlp.py (last_layer)',
  tensors: [
    { tuned: 'gated-prompt/prompt_embeddings', official: 'enc.prompt_embeddings' },
    { tuned: 'gated-prompt/gate_logit', official: 'enc.gate_logit' },
    { tuned: 'gated-prompt/temp', official: 'enc.temp' },
    ...VPT_HEAD,
  ],
  unused: [],
  // The code inserts prompts before block 1 and has soft gates only.
  requires: { promptBlock: 0, hardGates: false },
  sizes: (official) => ({
    numPrompts: officialDim(official('enc.prompt_embeddings'), 1),
    gates: official('enc.gate_logit') !== undefined,
    temperature: official('enc.temp') !== undefined,
  }),
};

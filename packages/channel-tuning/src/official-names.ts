import type { OfficialNames } from '@visual-peft/vit-core';
import { officialDim } from '@visual-peft/vit-core';

/**
 * SCT as its official code names it. `sct_attn` is the ChannelAdapter after attention; its
 * `channel_index` is a plain attribute there (the code recomputes it with getSalientChannels),
 * written here so the file is complete.
 */
export const SCT_OFFICIAL_NAMES: OfficialNames = {
  method: 'sct',
  source:
    'zhaohengyuan1/SCT@01e8f1e39f2e2a486b2dfaca97acbb382eeedb9a: models/vision_transformer_sct.py (Block.sct_attn = ChannelAdapter: adapt_linear, channel_index), utils.py (save: sct and head parameters)',
  tensors: [
    { tuned: 'sct/blocks.{i}.attn.weight', official: 'blocks.{i}.sct_attn.adapt_linear.weight' },
    { tuned: 'sct/blocks.{i}.attn.bias', official: 'blocks.{i}.sct_attn.adapt_linear.bias' },
    { tuned: 'sct/blocks.{i}.attn.channels', official: 'blocks.{i}.sct_attn.channel_index' },
    { tuned: 'head.weight', official: 'head.weight' },
    { tuned: 'head.bias', official: 'head.bias' },
  ],
  unused: [],
  // The code's module sits on the stream after attention and adds its output unscaled (the scale is commented out);
  // its `sct_mlp` acts on the MLP branch before the residual add, which the 'mlp' position here does not.
  requires: { position: 'attn', scale: 1 },
  sizes: (official, depth) => {
    const blocks = [...Array(depth).keys()].filter((block) => official(`blocks.${block}.sct_attn.adapt_linear.weight`) !== undefined);
    return { k: blocks.map((block) => officialDim(official(`blocks.${block}.sct_attn.adapt_linear.weight`), 0)), lastBlocks: blocks.length };
  },
};

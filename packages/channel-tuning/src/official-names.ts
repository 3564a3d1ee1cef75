import type { HostTensor, OfficialNames } from '@visual-peft/vit-core';
import { ConfigError, FormatError, officialDim } from '@visual-peft/vit-core';

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

const ADAPT_WEIGHT = /^blocks\.(\d+)\.sct_attn\.adapt_linear\.weight$/;

/**
 * An official SCT checkpoint's tensors with the channel indices it lacks: the official code
 * recomputes them (getSalientChannels) and saves none, so they come from elsewhere (the run's own
 * record, a file of the user's). `channels` holds one list per block that has a module, in block
 * order, each of that block's K channels in the module's input order. Distinct, in-range values are
 * checked when the tensors load (`ShapeError`).
 */
export function withOfficialChannelIndices(official: ReadonlyMap<string, HostTensor>, channels: readonly (readonly number[])[], source: string): Map<string, HostTensor> {
  const blocks = [...official.keys()].flatMap((key) => {
    const match = ADAPT_WEIGHT.exec(key);
    return match === null ? [] : [Number(match[1])];
  });
  blocks.sort((a, b) => a - b);
  const present = blocks.filter((block) => official.has(`blocks.${block}.sct_attn.channel_index`));
  if (present.length > 0) throw new FormatError(source, `already holds channel indices (blocks.${present[0]}.sct_attn.channel_index); leave out the channels given besides`);
  if (!Array.isArray(channels) || channels.length !== blocks.length) {
    throw new ConfigError('channels', channels, `must hold one list per block with an SCT module in ${source} (${blocks.length}: blocks ${blocks.join(', ')})`);
  }
  const out = new Map(official);
  blocks.forEach((block, index) => {
    const list = channels[index];
    const k = official.get(`blocks.${block}.sct_attn.adapt_linear.weight`)!.shape[0];
    if (!Array.isArray(list) || list.length !== k || !list.every((value) => Number.isSafeInteger(value))) {
      throw new ConfigError(`channels[${index}]`, list, `must be ${k} integers, the channels of block ${block}'s module (its adapt_linear is ${k} x ${k})`);
    }
    out.set(`blocks.${block}.sct_attn.channel_index`, { dtype: 'int32', shape: [k], data: Int32Array.from(list) });
  });
  return out;
}

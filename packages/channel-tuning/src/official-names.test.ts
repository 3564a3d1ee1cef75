import * as tf from '@tensorflow/tfjs-core';
import { checkOfficialRoundTrip, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { ConfigError, FormatError } from '@visual-peft/vit-core';
import { SCT_OFFICIAL_NAMES, withOfficialChannelIndices } from './official-names';
import { SCT_DEFINITION } from './salient-channel-tuning';

describe('SCT under its official parameter names', () => {
  it('writes each block’s adapt_linear and channel_index as zhaohengyuan1/SCT names them, reads them back, and reads k per block', () => {
    const before = tf.memory().numTensors;
    const model = tinyModel();
    const sct = SCT_DEFINITION.create(model, { k: 4, selection: 'random' });
    try {
      expect(SCT_DEFINITION.officialNames).toBe(SCT_OFFICIAL_NAMES);
      const official = checkOfficialRoundTrip(model, sct, SCT_OFFICIAL_NAMES);
      expect(official.get('blocks.1.sct_attn.adapt_linear.weight')!.shape).toEqual([4, 4]);
      expect(official.get('blocks.0.sct_attn.channel_index')!.shape).toEqual([4]);
      expect(SCT_OFFICIAL_NAMES.sizes((key) => official.get(key), 2)).toEqual({ k: [4, 4], lastBlocks: 2 });
    } finally {
      sct.dispose();
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses a module on the MLP branch: the official code's sct_mlp is another site", () => {
    const model = tinyModel();
    const sct = SCT_DEFINITION.create(model, { k: 4, selection: 'random', position: 'mlp' });
    try {
      expect(() => checkOfficialRoundTrip(model, sct, SCT_OFFICIAL_NAMES)).toThrow(/sct option position must be "attn"/);
    } finally {
      sct.dispose();
      model.dispose();
    }
  });

  it('adds channel indices to an official checkpoint that has none, one list per tuned block, and refuses lists that do not fit', () => {
    const weight = { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) } as const;
    const official = new Map([
      ['blocks.3.sct_attn.adapt_linear.weight', weight],
      ['blocks.1.sct_attn.adapt_linear.weight', weight],
      ['head.weight', weight],
    ]);
    const withChannels = withOfficialChannelIndices(official, [[5, 2], [0, 9]], 'ckpt.safetensors');
    expect(withChannels.get('blocks.1.sct_attn.channel_index')).toEqual({ dtype: 'int32', shape: [2], data: Int32Array.from([5, 2]) });
    expect(withChannels.get('blocks.3.sct_attn.channel_index')!.data).toEqual(Int32Array.from([0, 9]));
    expect(() => withOfficialChannelIndices(official, [[5, 2]], 'ckpt.safetensors')).toThrow(new ConfigError('channels', [[5, 2]], 'must hold one list per block with an SCT module in ckpt.safetensors (2: blocks 1, 3)'));
    expect(() => withOfficialChannelIndices(official, [[5, 2], [1, 2, 3]], 'ckpt.safetensors')).toThrow(/channels\[1\] must be 2 integers, the channels of block 3's module/);
    expect(() => withOfficialChannelIndices(official, [[5, 2.5], [1, 2]], 'ckpt.safetensors')).toThrow(ConfigError);
    expect(() => withOfficialChannelIndices(withChannels, [[5, 2], [0, 9]], 'ckpt.safetensors')).toThrow(FormatError);
  });
});

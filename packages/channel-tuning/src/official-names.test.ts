import * as tf from '@tensorflow/tfjs-core';
import { checkOfficialRoundTrip, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { SCT_OFFICIAL_NAMES } from './official-names';
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
});

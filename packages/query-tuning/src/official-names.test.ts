import * as tf from '@tensorflow/tfjs-core';
import { checkOfficialRoundTrip, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { VQT_OFFICIAL_NAMES } from './official-names';
import { VQT_DEFINITION } from './visual-query-tuning';

describe('VQT under its official parameter names', () => {
  it('stacks the per-block queries into query_prompt_embeddings [L, T, D] as andytu28/VQT does, unstacks them back, and reads its sizes', () => {
    const before = tf.memory().numTensors;
    const model = tinyModel();
    const vqt = VQT_DEFINITION.create(model, { numQueries: 3 });
    try {
      expect(VQT_DEFINITION.officialNames).toBe(VQT_OFFICIAL_NAMES);
      const official = checkOfficialRoundTrip(model, vqt, VQT_OFFICIAL_NAMES);
      expect(official.get('enc.transformer.encoder.query_prompt_embeddings')!.shape).toEqual([2, 3, 32]);
      // Its own head over CLS and every block's query outputs; the backbone's head is left out.
      expect(official.get('head.last_layer.weight')!.shape).toEqual([5, 32 * (1 + 2 * 3)]);
      expect(official.has('head.weight')).toBe(false);
      expect(VQT_OFFICIAL_NAMES.sizes((key) => official.get(key), 2)).toEqual({ numQueries: 3, numClasses: 5 });
    } finally {
      vqt.dispose();
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

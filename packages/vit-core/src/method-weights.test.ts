import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSafetensors } from './checkpoint/safetensors';
import { CheckpointMismatchError, FormatError } from './errors';
import { MethodBase } from './method-base';
import { METHOD_WEIGHTS_FORMAT, loadMethodWeights, serializeMethodWeights } from './method-weights';

class Scales extends MethodBase<{ seed: number; width: number }> {
  readonly name: string;
  constructor(name: string, config: { seed: number; width: number }) {
    super(config);
    this.name = name;
    this.addVariable('scale', (seed) => tf.randomNormal([config.width], 0, 1, 'float32', seed));
    this.addVariable('head.weight', (seed) => tf.randomNormal([config.width, 2], 0, 1, 'float32', seed), { saved: 'transposed', classifier: true });
  }
}

function values(method: Scales): number[][] {
  const weights = method.weights();
  const out = [...weights.values()].map((tensor) => Array.from(tensor.dataSync()));
  tf.dispose([...weights.values()]);
  return out;
}

describe('serializeMethodWeights / loadMethodWeights', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    expect(tf.memory().numTensors).toBe(before);
  });

  it("round-trips a method's weights through safetensors bytes, with its name and config in the metadata", () => {
    const saved = new Scales('scales', { seed: 1, width: 4 });
    const bytes = serializeMethodWeights(saved, { note: 'run 3' });
    const { tensors, metadata } = parseSafetensors(bytes);
    expect([...tensors.keys()].sort()).toEqual(['head.weight', 'scale']);
    expect(tensors.get('head.weight')!.shape).toEqual([2, 4]);
    expect(metadata).toEqual({ format: METHOD_WEIGHTS_FORMAT, method: 'scales', config: '{"seed":1,"width":4}', note: 'run 3' });
    const loaded = new Scales('scales', { seed: 2, width: 4 });
    expect(values(loaded)).not.toEqual(values(saved));
    expect(loadMethodWeights(loaded, bytes)).toEqual(metadata);
    expect(values(loaded)).toEqual(values(saved));
    saved.dispose();
    loaded.dispose();
  });

  it("refuses another method's bytes and wrong shapes before loading anything", () => {
    const saved = new Scales('scales', { seed: 1, width: 4 });
    const other = new Scales('other', { seed: 1, width: 4 });
    expect(() => loadMethodWeights(other, serializeMethodWeights(saved), 'a.safetensors')).toThrow(
      new FormatError('a.safetensors', 'holds the weights of "scales", not of "other"'),
    );
    const wider = new Scales('scales', { seed: 3, width: 5 });
    const original = values(wider);
    expect(() => loadMethodWeights(wider, serializeMethodWeights(saved))).toThrow(CheckpointMismatchError);
    expect(values(wider)).toEqual(original);
    [saved, other, wider].forEach((method) => method.dispose());
  });
});

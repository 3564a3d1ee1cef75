import * as tf from '@tensorflow/tfjs-core';
import { CheckpointMismatchError, ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { useTinyModel } from './__fixtures__/test-kit';
import { ADAPTER_METHOD_DEFINITIONS } from './definitions';

describe('ADAPTER_METHOD_DEFINITIONS', () => {
  const kit = useTinyModel();

  const definition = (name: string) => ADAPTER_METHOD_DEFINITIONS.find((candidate) => candidate.name === name)!;

  it('names the four baselines in kebab-case, each training the head beside its own variables', () => {
    expect(ADAPTER_METHOD_DEFINITIONS.map((entry) => entry.name)).toEqual(['adapter', 'adaptformer', 'lora', 'ssf']);
    for (const entry of ADAPTER_METHOD_DEFINITIONS) {
      expect(entry.policy).toBe('linear');
      expect(entry.description.length).toBeGreaterThan(20);
    }
  });

  it('builds each method from plain options with every default filled in, not attached', () => {
    const built = [
      definition('adapter').create(kit.model, { bottleneck: 4 }),
      definition('adaptformer').create(kit.model, { layerNorm: 'in', scale: 0.2 }),
      definition('lora').create(kit.model, { rank: 2 }),
      definition('ssf').create(kit.model, {}),
    ];
    expect(built.map((method) => method.config)).toEqual([
      { bottleneck: 4, initStd: 0.02, seed: 0 },
      { bottleneck: 64, scale: 0.2, dropout: 0.1, layerNorm: 'in', seed: 0 },
      { rank: 2, alpha: 2, seed: 0 },
      { initStd: 0.02, seed: 0 },
    ]);
    expect(built.map((method) => method.name)).toEqual(['adapter', 'adaptformer', 'lora', 'ssf']);
    expect(kit.model.extensions).toEqual([]);
    built.forEach((method) => method.dispose());
  });

  it('rebuilds a method from its saved config with the same initial weights', () => {
    for (const entry of ADAPTER_METHOD_DEFINITIONS) {
      const first = entry.create(kit.model, { seed: 3 });
      const rebuilt = entry.create(kit.model, JSON.parse(JSON.stringify(first.config)) as Record<string, unknown>);
      const [a, b] = [first.weights(), rebuilt.weights()];
      expect([...b.keys()], entry.name).toEqual([...a.keys()]);
      for (const [name, tensor] of a) expect(b.get(name)!.dataSync(), `${entry.name} ${name}`).toEqual(tensor.dataSync());
      tf.dispose([...a.values(), ...b.values()]);
      [first, rebuilt].forEach((method) => method.dispose());
    }
  });

  it('refuses unknown and invalid options with a ConfigError naming the field', () => {
    expect(() => definition('adapter').create(kit.model, { bottleneck: 8, reduction: 96 })).toThrow(/^adapter.reduction is not an option/);
    expect(() => definition('lora').create(kit.model, { rank: 'eight' })).toThrow(ConfigError);
    expect(() => definition('adaptformer').create(kit.model, { dropout: 2 })).toThrow(/^dropout must be a finite number in \[0, 1\)/);
    expect(() => definition('ssf').create(kit.model, { initStd: -1 })).toThrow(/^initStd must be a finite number >= 0/);
  });

  it('loads weights only when every name, shape and dtype fits (one CheckpointMismatchError), changing nothing otherwise', () => {
    for (const entry of ADAPTER_METHOD_DEFINITIONS) {
      const method = entry.create(kit.model, {});
      const saved = method.weights();
      const [firstName, firstTensor] = [...saved][0]!;
      const missing = new Map([...saved].slice(1));
      const extra = new Map([...saved, ['stray.weight', tf.zeros([1])]]);
      const reshaped = new Map([...saved, [firstName, tf.zeros([firstTensor.size + 1])]]);
      const integer = new Map([...saved, [firstName, tf.zeros(firstTensor.shape, 'int32')]]);
      expect(() => method.loadWeights(missing)).toThrow(CheckpointMismatchError);
      expect(() => method.loadWeights(missing)).toThrow(`${entry.name} weights does not fit the model: missing keys: ${firstName}`);
      expect(() => method.loadWeights(extra)).toThrow(/unexpected keys: stray\.weight$/);
      expect(() => method.loadWeights(reshaped)).toThrow(`wrong shapes: ${firstName} expected [${firstTensor.shape.join(', ')}] found [${firstTensor.size + 1}]`);
      expect(() => method.loadWeights(integer)).toThrow(`wrong dtypes: ${firstName} expected float32 found int32`);
      expect(method.trainableVariables()[0]!.dataSync()).toEqual(firstTensor.dataSync());
      tf.dispose([extra.get('stray.weight')!, reshaped.get(firstName)!, integer.get(firstName)!, ...saved.values()]);
      method.dispose();
    }
  });
});

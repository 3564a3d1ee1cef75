import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { CheckpointMismatchError, FormatError, applyTrainablePolicy, getStateDict } from '@visual-peft/vit-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROMPT_DEFINITION, promptSetup } from './__fixtures__/tiny-task';
import { useTemporaryDirectory } from './__fixtures__/temporary-directory';
import { decodeTunedWeights, encodeTunedWeights, loadTunedWeightsBytes, restoreTunedTensors, tunedTensors } from './tuned-weights';
import { loadTunedWeights, readTunedWeights, saveTunedWeights } from './tuned-weights-files';

const directory = useTemporaryDirectory();
let setup: ReturnType<typeof promptSetup>;
let images: tf.Tensor4D;
let before: number;
const cleanup: { dispose(): void }[] = [];

beforeEach(() => {
  before = tf.memory().numTensors;
  setup = promptSetup({ numPrompts: 2 });
  // Stand-in for training: move every trainable value off its initialisation.
  tf.tidy(() => {
    for (const variable of [...setup.method.trainableVariables(), setup.model.parameter('head.weight').variable]) {
      variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.3, 'float32', variable.size)));
    }
  });
  images = tf.randomNormal([3, 3, 32, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
});
afterEach(() => {
  cleanup.splice(0).forEach((item) => item.dispose());
  setup.method.dispose();
  setup.model.dispose();
  images.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

function logits(model: VisionTransformer): Float32Array {
  return tf.tidy(() => model.forward(images).dataSync() as Float32Array);
}

function fresh(config = TINY_VIT): VisionTransformer {
  const model = tinyModel({ ...config, dropPathRate: 0.1 });
  cleanup.push(model);
  return model;
}

function own(methods: TuningMethod[]): TuningMethod[] {
  cleanup.unshift(...methods);
  return methods;
}

describe('tuned weights', () => {
  it('load into a fresh backbone and give identical logits, with the trainable flags restored', async () => {
    const path = join(directory.path, 'tuned.safetensors');
    const manifest = await saveTunedWeights(path, setup.model, [setup.method]);
    expect(manifest.methods).toEqual([{ name: 'test-prompt', config: { numPrompts: 2, dropout: 0.1, seed: 5 } }]);
    expect(manifest.backboneWeights).toEqual(['head.weight', 'head.bias']);
    expect(manifest.trainable).toEqual(['head.weight', 'head.bias']);
    const model = fresh();
    applyTrainablePolicy(model, 'frozen');
    const [method] = own(await loadTunedWeights(path, model, [PROMPT_DEFINITION]));
    expect(model.extensions).toEqual([method]);
    expect(logits(model)).toEqual(logits(setup.model));
    expect(model.parameter('head.weight').variable.trainable).toBe(true);
    expect(model.parameter('blocks.0.norm1.weight').variable.trainable).toBe(false);
  });

  it('are the same bytes in memory as on disk, load from bytes alone, and save into folders that do not exist yet', async () => {
    const path = join(directory.path, 'new', 'deeper', 'tuned.safetensors');
    const manifest = await saveTunedWeights(path, setup.model, [setup.method]);
    const bytes = encodeTunedWeights(setup.model, [setup.method]);
    expect(new Uint8Array(await readFile(path))).toEqual(bytes);
    expect(decodeTunedWeights(bytes).manifest).toEqual(manifest);
    const model = fresh();
    const [method] = own(loadTunedWeightsBytes(bytes, model, [PROMPT_DEFINITION], 'download.safetensors'));
    expect(model.extensions).toEqual([method]);
    expect(logits(model)).toEqual(logits(setup.model));
    expect(() => decodeTunedWeights(new Uint8Array(16), 'upload.safetensors')).toThrow(FormatError);
  });

  it('are small: the frozen backbone is not in them', async () => {
    const path = join(directory.path, 'tuned.safetensors');
    await saveTunedWeights(path, setup.model, [setup.method]);
    const backboneBytes = [...getStateDict(setup.model).values()].reduce((sum, tensor) => sum + tensor.data.byteLength, 0);
    // prompts 2x32, two scales of 32, head 5x32 + 5: 394 floats plus the header
    expect((await stat(path)).size).toBeLessThan(394 * 4 + 2000);
    expect((await stat(path)).size).toBeLessThan(backboneBytes / 20);
  });

  it('save BitFit’s trainable biases with the head', async () => {
    applyTrainablePolicy(setup.model, 'bias');
    tf.tidy(() => setup.model.parameter('blocks.1.mlp.fc2.bias').variable.assign(tf.fill([32], 0.25)));
    const path = join(directory.path, 'bias.safetensors');
    const manifest = await saveTunedWeights(path, setup.model, [setup.method]);
    expect(manifest.backboneWeights).toContain('blocks.1.mlp.fc2.bias');
    const model = fresh();
    own(await loadTunedWeights(path, model, [PROMPT_DEFINITION]));
    expect(logits(model)).toEqual(logits(setup.model));
    expect(model.parameter('blocks.1.mlp.fc2.bias').variable.trainable).toBe(true);
  });

  it("give a backbone with another head the saved head's width", async () => {
    const path = join(directory.path, 'tuned.safetensors');
    await saveTunedWeights(path, setup.model, [setup.method]);
    const model = fresh({ ...TINY_VIT, numClasses: 9 });
    own(await loadTunedWeights(path, model, [PROMPT_DEFINITION]));
    expect(model.numClasses).toBe(5);
    expect(logits(model)).toEqual(logits(setup.model));
  });

  it('round-trip through the tensor map with linear-layout weights transposed to timm’s', () => {
    const tensors = tunedTensors(setup.model, [setup.method]);
    expect(tensors.get('head.weight')!.shape).toEqual([5, 32]);
    expect(tensors.get('test-prompt/prompts')!.shape).toEqual([1, 2, 32]);
    const expected = logits(setup.model);
    tf.tidy(() => setup.model.parameter('head.weight').variable.assign(tf.zeros([32, 5])));
    restoreTunedTensors(setup.model, [setup.method], tensors, 'memory');
    expect(logits(setup.model)).toEqual(expected);
  });

  it('refuse a backbone of another architecture, naming the field', async () => {
    const path = join(directory.path, 'tuned.safetensors');
    await saveTunedWeights(path, setup.model, [setup.method]);
    const model = fresh({ ...TINY_VIT, depth: 3 });
    await expect(loadTunedWeights(path, model, [PROMPT_DEFINITION])).rejects.toMatchObject({ name: 'ConfigError', field: 'model.config.depth' });
    expect(model.extensions).toEqual([]);
  });

  it('refuse when a saved method has no definition', async () => {
    const path = join(directory.path, 'tuned.safetensors');
    await saveTunedWeights(path, setup.model, [setup.method]);
    await expect(loadTunedWeights(path, fresh(), [])).rejects.toMatchObject({ name: 'ConfigError', field: 'definitions' });
  });

  it('compare the two manifests by value: keys in another order and numbers as Python writes them', async () => {
    const path = join(directory.path, 'tuned.safetensors');
    const manifest = await saveTunedWeights(path, setup.model, [setup.method]);
    const sorted = (value: unknown): unknown =>
      Array.isArray(value) ? value.map(sorted)
      : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? 1 : -1)).map(([k, v]) => [k, sorted(v)]))
      : value;
    // Python's json.dumps writes 1e-6 as 1e-06 and a float 4 as 4.0.
    const text = JSON.stringify(sorted(manifest), null, 1).replace('"layerNormEps": 0.000001', '"layerNormEps": 1e-06').replace('"mlpRatio": 4', '"mlpRatio": 4.0');
    expect(text).toContain('1e-06');
    expect(text).toContain('4.0');
    await writeFile(join(directory.path, 'tuned.json'), text);
    expect((await readTunedWeights(path)).manifest).toEqual(manifest);
  });

  it('refuse a torn pair, a missing file and a path without .safetensors', async () => {
    const path = join(directory.path, 'tuned.safetensors');
    await saveTunedWeights(path, setup.model, [setup.method]);
    const jsonPath = join(directory.path, 'tuned.json');
    const manifest = JSON.parse(await readFile(jsonPath, 'utf8'));
    await writeFile(jsonPath, JSON.stringify({ ...manifest, numClasses: 7 }));
    await expect(readTunedWeights(path)).rejects.toBeInstanceOf(FormatError);
    await writeFile(jsonPath, '{"format": "something-else"}');
    await expect(readTunedWeights(path)).rejects.toBeInstanceOf(FormatError);
    await expect(readTunedWeights(join(directory.path, 'absent.safetensors'))).rejects.toThrow(/absent\.json: no such file/);
    await expect(saveTunedWeights(join(directory.path, 'tuned.bin'), setup.model, [setup.method])).rejects.toMatchObject({ field: 'path' });
  });

  it('check every tensor before writing any', () => {
    const tensors = tunedTensors(setup.model, [setup.method]);
    const headBefore = Array.from(setup.model.parameter('head.weight').variable.dataSync());
    const promptsBefore = Array.from(setup.method.trainableVariables()[0]!.dataSync());
    const changedHead = new Map(tensors).set('head.weight', { ...tensors.get('head.weight')!, data: new Float32Array(160) });
    // The method's tensors are checked by the method (CheckpointMismatchError), the rest here (FormatError).
    const cases = [
      [new Map([...changedHead].filter(([key]) => key !== 'test-prompt/scales.1')), CheckpointMismatchError],
      [new Map(changedHead).set('test-prompt/extra', tensors.get('head.bias')!), CheckpointMismatchError],
      [new Map(changedHead).set('nonsense.weight', tensors.get('head.bias')!), FormatError],
      [new Map(changedHead).set('test-prompt/prompts', { dtype: 'float32', shape: [1, 3, 32], data: new Float32Array(96) }), CheckpointMismatchError],
      [new Map(changedHead).set('head.bias', { dtype: 'int32', shape: [5], data: new Int32Array(5) }), FormatError],
    ] as const;
    for (const [broken, error] of cases) {
      expect(() => restoreTunedTensors(setup.model, [setup.method], broken, 'broken')).toThrow(error);
      expect(Array.from(setup.model.parameter('head.weight').variable.dataSync())).toEqual(headBefore);
      expect(Array.from(setup.method.trainableVariables()[0]!.dataSync())).toEqual(promptsBefore);
    }
  });
});

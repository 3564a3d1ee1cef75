import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { MethodDefinition, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, FormatError, VisionTransformer as Vit, readCheckpoint, saveCheckpoint, serializeSafetensors } from '@visual-peft/vit-core';
import { TINY_VIT } from '@visual-peft/method-testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROMPT_DEFINITION, promptMethod, promptSetup } from './__fixtures__/tiny-task';
import { useTemporaryDirectory } from './__fixtures__/temporary-directory';
import { loadTunedModel } from './tuned-model';
import { saveTunedWeights } from './tuned-weights-files';

const directory = useTemporaryDirectory();
const CLASSES = ['cat', 'dog', 'fox', 'owl', 'yak'];
/** A second method of another name, for a two-stage run (the first frozen under the second). */
const SECOND_DEFINITION: MethodDefinition = {
  ...PROMPT_DEFINITION,
  name: 'second-prompt',
  create: (model, options) => ({ ...promptMethod(model, options), name: 'second-prompt' }),
};
let setup: ReturnType<typeof promptSetup>;
let images: tf.Tensor4D;
let before: number;

/** Moves every trainable value off its initialisation, as training would. */
function perturb(variables: readonly tf.Variable[], seed: number): void {
  tf.tidy(() => variables.forEach((variable, index) => variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.3, 'float32', seed + index)))));
}

function logits(model: VisionTransformer): Float32Array {
  return tf.tidy(() => model.forward(images).dataSync() as Float32Array);
}

/** Loads, checks the logits against `expected`, frees everything and returns what was loaded besides. */
async function loadAndCompare(source: Parameters<typeof loadTunedModel>[0], expected: Float32Array, definitions = [PROMPT_DEFINITION]) {
  const loaded = await loadTunedModel(source, { definitions });
  try {
    expect(logits(loaded.model)).toEqual(expected);
    return { classNames: loaded.classNames, methods: loaded.methods.map((method) => method.name), manifest: loaded.manifest };
  } finally {
    loaded.methods.forEach((method: TuningMethod) => method.dispose());
    loaded.model.dispose();
  }
}

beforeEach(() => {
  before = tf.memory().numTensors;
  setup = promptSetup({ numPrompts: 2 });
  perturb([...setup.method.trainableVariables(), setup.model.parameter('head.weight').variable], 3);
  images = tf.randomNormal([3, 3, 32, 32], 0, 1, 'float32', 4) as tf.Tensor4D;
});
afterEach(() => {
  setup.method.dispose();
  setup.model.dispose();
  images.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

describe('loadTunedModel', () => {
  it('rebuilds a run folder (pretrained checkpoint, methods, head, class names) with identical logits', async () => {
    const checkpoint = join(directory.path, 'backbone.safetensors');
    await saveCheckpoint(setup.model, checkpoint);
    const run = join(directory.path, 'run');
    await saveTunedWeights(join(run, 'tuned.safetensors'), setup.model, [setup.method], { classNames: CLASSES, backboneInit: { weights: checkpoint, fcNorm: 'checkpoint' } });
    const loaded = await loadAndCompare({ run }, logits(setup.model));
    expect(loaded).toMatchObject({ classNames: CLASSES, methods: ['test-prompt'], manifest: { numClasses: 5 } });
    // The same from the file, and from the folder, with the backbone named (a config and the checkpoint, as after moving it).
    expect((await loadAndCompare({ tuned: join(run, 'tuned.safetensors'), backbone: TINY_VIT, weights: checkpoint }, logits(setup.model))).classNames).toEqual(CLASSES);
    expect((await loadAndCompare({ run, backbone: TINY_VIT, weights: checkpoint }, logits(setup.model))).classNames).toEqual(CLASSES);
  });

  it('rebuilds a seeded random backbone from the seed the run records; class names are null where none were saved', async () => {
    const model = new Vit(TINY_VIT, { seed: 7, weights: 'random' });
    const method = promptMethod(model, { numPrompts: 2 });
    model.attach(method);
    perturb(method.trainableVariables(), 9);
    const tuned = join(directory.path, 'seeded.safetensors');
    await saveTunedWeights(tuned, model, [method], { backboneInit: { weights: null, seed: 7 } });
    const expected = logits(model);
    method.dispose();
    model.dispose();
    expect((await loadAndCompare({ tuned }, expected)).classNames).toBeNull();
  });

  it('applies a two-stage run’s frozen first stage (stage1/) before the run’s own methods', async () => {
    const checkpoint = join(directory.path, 'backbone.safetensors');
    await saveCheckpoint(setup.model, checkpoint);
    const run = join(directory.path, 'two-stage');
    const backboneInit = { weights: checkpoint, fcNorm: 'checkpoint' } as const;
    await saveTunedWeights(join(run, 'stage1', 'tuned.safetensors'), setup.model, [setup.method], { backboneInit });
    const second = SECOND_DEFINITION.create(setup.model, { numPrompts: 1, seed: 8 });
    setup.model.attach(second);
    perturb([...second.trainableVariables(), setup.model.parameter('head.bias').variable], 5);
    await saveTunedWeights(join(run, 'tuned.safetensors'), setup.model, [second], { classNames: CLASSES, backboneInit });
    const expected = logits(setup.model);
    setup.model.detach(second);
    second.dispose();
    expect((await loadAndCompare({ run }, expected, [PROMPT_DEFINITION, SECOND_DEFINITION])).methods).toEqual(['test-prompt', 'second-prompt']);
  });

  it('refuses, in one line naming the file, a folder without tuned weights, another backbone, an unknown method and an unrecorded backbone; nothing leaks', async () => {
    const checkpoint = join(directory.path, 'backbone.safetensors');
    await saveCheckpoint(setup.model, checkpoint);
    const tuned = join(directory.path, 'run', 'tuned.safetensors');
    await saveTunedWeights(tuned, setup.model, [setup.method], { backboneInit: { weights: checkpoint, fcNorm: 'checkpoint' } });
    const definitions = [PROMPT_DEFINITION];
    await mkdir(join(directory.path, 'empty'));
    await expect(loadTunedModel({ run: join(directory.path, 'empty') }, { definitions })).rejects.toThrow(
      new FormatError(join(directory.path, 'empty'), 'has no tuned.safetensors: not a finished `train` output folder'),
    );
    const deeper = loadTunedModel({ tuned, backbone: { ...TINY_VIT, depth: 3 } }, { definitions });
    await expect(deeper).rejects.toBeInstanceOf(ConfigError);
    await expect(loadTunedModel({ tuned, backbone: { ...TINY_VIT, depth: 3 } }, { definitions })).rejects.toThrow(
      `model.config.depth must equal the depth of the backbone ${tuned} was tuned on (2), got 3`,
    );
    await expect(loadTunedModel({ tuned }, { definitions: [] })).rejects.toThrow(`a method saved in ${tuned}`);
    await expect(loadTunedModel({ tuned, weights: join(directory.path, 'absent.safetensors') }, { definitions })).rejects.toThrow(/absent\.safetensors: no such file/);
    await expect(loadTunedModel({ tuned, backbone: 'vit_nonexistent' }, { definitions })).rejects.toMatchObject({ field: 'backbone' });

    const bare = join(directory.path, 'bare.safetensors');
    await saveTunedWeights(bare, setup.model, [setup.method]);
    await expect(loadTunedModel({ tuned: bare }, { definitions })).rejects.toThrow(`weights must name the pretrained checkpoint: ${bare} does not record the backbone it was tuned on`);
    expect((await loadAndCompare({ tuned: bare, weights: checkpoint }, logits(setup.model))).classNames).toBeNull();
  });

  it('reads fc_norm from an MAE-layout checkpoint\'s final norm when told (fcNorm), for a file that does not record it', async () => {
    const model = new Vit({ ...TINY_VIT, globalPool: 'avg', fcNorm: true }, { seed: 11, weights: 'random' });
    const method = promptMethod(model, { numPrompts: 2 });
    model.attach(method);
    perturb([...method.trainableVariables(), model.parameter('fc_norm.weight').variable, model.parameter('fc_norm.bias').variable], 12);
    // MAE's released layout: the pooled LayerNorm saved as the final `norm`, no `fc_norm`.
    const full = join(directory.path, 'full.safetensors');
    await saveCheckpoint(model, full);
    const { stateDict } = await readCheckpoint(full);
    const mae = join(directory.path, 'mae.safetensors');
    await writeFile(mae, serializeSafetensors(new Map([...stateDict].map(([key, tensor]) => [key.replace(/^fc_norm\./, 'norm.'), tensor]))));
    const tuned = join(directory.path, 'mae-tuned.safetensors');
    await saveTunedWeights(tuned, model, [method]);
    const expected = logits(model);
    method.dispose();
    model.dispose();
    await loadAndCompare({ tuned, weights: mae, fcNorm: 'from-norm' }, expected);
    await expect(loadTunedModel({ tuned, weights: mae }, { definitions: [PROMPT_DEFINITION] })).rejects.toThrow(/missing keys: fc_norm\.weight, fc_norm\.bias/);
  });

  it('checks the class names and backbone record on saving and on reading', async () => {
    const tuned = join(directory.path, 'tuned.safetensors');
    await expect(saveTunedWeights(tuned, setup.model, [setup.method], { classNames: ['a', 'b'] })).rejects.toMatchObject({ name: 'ConfigError', field: 'classNames' });
    await expect(saveTunedWeights(tuned, setup.model, [setup.method], { backboneInit: { weights: null, seed: 0.5 } })).rejects.toMatchObject({ field: 'backboneInit' });
    await saveTunedWeights(tuned, setup.model, [setup.method], { classNames: CLASSES });
    const jsonPath = join(directory.path, 'tuned.json');
    const manifest = JSON.parse(await readFile(jsonPath, 'utf8'));
    await writeFile(jsonPath, JSON.stringify({ ...manifest, classNames: ['cat'] }));
    await expect(loadTunedModel({ tuned, weights: 'unused.safetensors' }, { definitions: [PROMPT_DEFINITION] })).rejects.toThrow(
      `${jsonPath}: its classNames must be 5 strings, one per class of the head, got ["cat"]`,
    );
  });
});

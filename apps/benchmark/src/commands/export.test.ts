import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { TunedRunInfo } from '@visual-peft/training';
import { applyTunedWeights, readTunedWeights, saveTunedWeights } from '@visual-peft/training';
import type { TuningMethod, VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, loadStateDict, parseSafetensors, readCheckpoint, serializeSafetensors } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBackbone } from '../backbone';
import { METHODS, findMethod } from '../methods';
import { runCli } from '../run-cli';
import { writeTinyMaeCheckpoint } from './__fixtures__/mae-checkpoint';

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-export-'));
const CLASSES = 3;
const definitions = [...METHODS.values()].flatMap((entry) => (entry.definition === null ? [] : [entry.definition]));
let config: VitConfig;
let images: tf.Tensor4D;

/** The pretrained tiny ViT with a fresh 3-class head, as `train` starts. */
async function pretrained(): Promise<VisionTransformer> {
  const model = new VisionTransformer(config, { weights: 'zeros' });
  loadStateDict(model, (await readCheckpoint(tinyVit('tiny-vit.safetensors'))).stateDict, { head: 'discard' });
  model.resetHead(CLASSES, { seed: 3 });
  return model;
}

/**
 * A run folder as `train` leaves it: `method` built with `options`, its variables and the head moved
 * off their initial values (as training would), saved; returns the folder and the tuned logits.
 */
async function tunedRun(name: string, method: string, options: Record<string, unknown>, info: TunedRunInfo = {}): Promise<{ run: string; logits: Float32Array }> {
  const model = await pretrained();
  const entry = findMethod(method);
  applyTrainablePolicy(model, entry.policy);
  const methods: TuningMethod[] = entry.definition === null ? [] : [entry.definition.create(model, options)];
  methods.forEach((created) => model.attach(created));
  const moved = [...methods.flatMap((created) => created.trainableVariables()), ...model.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.variable)];
  moved.forEach((variable, index) => tf.tidy(() => variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.2, 'float32', 40 + index)))));
  const run = join(directory, name);
  mkdirSync(run, { recursive: true });
  await saveTunedWeights(join(run, 'tuned.safetensors'), model, methods, info);
  const logits = tf.tidy(() => model.forward(images).dataSync() as Float32Array);
  methods.forEach((created) => {
    model.detach(created);
    created.dispose();
  });
  model.dispose();
  return { run, logits };
}

/** Logits of a tuned-weights file loaded onto the pretrained backbone. */
async function logitsOfTuned(path: string): Promise<Float32Array> {
  const model = await pretrained();
  const methods = applyTunedWeights(await readTunedWeights(path), model, definitions, path);
  const logits = tf.tidy(() => model.forward(images).dataSync() as Float32Array);
  methods.forEach((method) => method.dispose());
  model.dispose();
  return logits;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((max, value, index) => Math.max(max, Math.abs(value - b[index]!)), 0);

describe('visual-peft-bench export and import', () => {
  beforeAll(async () => {
    config = await resolveBackbone(tinyVit('config.json'), { numClasses: CLASSES });
    images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 7) as tf.Tensor4D;
  });

  for (const [method, options] of [
    ['lora', { rank: 2 }],
    ['ssf', { initStd: 0.1 }],
    ['bias', {}],
  ] as const) {
    it(`folds ${method} into one timm-named safetensors that a plain backbone loads, with the tuned logits`, async () => {
      const { run, logits } = await tunedRun(`fold-${method}`, method, options);
      const out = join(run, 'model.safetensors');
      const tensorsBefore = tf.memory().numTensors;
      const result = await runCli('export', '--run', run, '--weights', tinyVit('tiny-vit.safetensors'), '--out', out, '--backend', 'cpu');
      expect(result.code, result.stderr.join('\n')).toBe(0);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(out)), out);
      expect(metadata.format).toBe('pt');
      expect(JSON.parse(metadata['visual-peft']!)).toMatchObject({
        folded: method === 'bias' ? [] : [method],
        timm: { img_size: [32, 32], patch_size: 8, in_chans: 3, num_classes: CLASSES, global_pool: 'token', embed_dim: 32, depth: 2, num_heads: 4, mlp_ratio: 4, qkv_bias: true, class_token: true, fc_norm: false },
      });
      expect(tensors.get('head.weight')!.shape).toEqual([CLASSES, 32]);
      expect([...tensors.keys()].every((key) => !key.includes('/'))).toBe(true);
      const plain = new VisionTransformer(config, { weights: 'zeros' });
      loadStateDict(plain, tensors);
      const exported = tf.tidy(() => plain.forward(images).dataSync() as Float32Array);
      plain.dispose();
      expect(maxDiff(logits, exported)).toBeLessThan(2e-5);
    });
  }

  it('folds a run that records its backbone (backboneInit) without --weights; --weights overrides it', async () => {
    const { run, logits } = await tunedRun('recorded', 'lora', { rank: 2 }, { backboneInit: { weights: tinyVit('tiny-vit.safetensors'), fcNorm: 'checkpoint' } });
    const moved = join(directory, 'moved-backbone.safetensors');
    writeFileSync(moved, readFileSync(tinyVit('tiny-vit.safetensors')));
    for (const extra of [[], ['--weights', moved]]) {
      const out = join(run, `model-${extra.length}.safetensors`);
      const result = await runCli('export', '--run', run, ...extra, '--out', out, '--backend', 'cpu');
      expect(result.code, result.stderr.join('\n')).toBe(0);
      const plain = new VisionTransformer(config, { weights: 'zeros' });
      loadStateDict(plain, parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors);
      const exported = tf.tidy(() => plain.forward(images).dataSync() as Float32Array);
      plain.dispose();
      expect(maxDiff(logits, exported)).toBeLessThan(2e-5);
    }
    // The recorded checkpoint gone and none given: one line naming it.
    const gone = await tunedRun('recorded-gone', 'lora', { rank: 2 }, { backboneInit: { weights: join(directory, 'deleted.safetensors'), fcNorm: 'checkpoint' } });
    const missing = await runCli('export', '--run', gone.run, '--out', join(gone.run, 'model.safetensors'), '--backend', 'cpu');
    expect(missing.code).toBe(1);
    expect(missing.stderr.at(-1)).toMatch(/deleted\.safetensors: no such file/);
    expect(existsSync(join(gone.run, 'model.safetensors'))).toBe(false);
  });

  it("folds a run saved before backboneInit with --weights, reading an MAE checkpoint's fc_norm as train does (its final norm)", async () => {
    const { weights, avgConfig, stateDict } = writeTinyMaeCheckpoint(directory);
    const maeConfig = await resolveBackbone(avgConfig, { numClasses: CLASSES });
    expect(maeConfig.fcNorm).toBe(true);
    const model = new VisionTransformer(maeConfig, { weights: 'zeros' });
    loadStateDict(model, stateDict, { head: 'discard', fcNorm: 'from-norm' });
    model.resetHead(CLASSES, { seed: 3 });
    const lora = findMethod('lora').definition!.create(model, { rank: 2 });
    model.attach(lora);
    lora.trainableVariables().forEach((variable, index) => tf.tidy(() => variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.2, 'float32', 60 + index)))));
    const run = join(directory, 'legacy-mae');
    // No run info: a file from before tuned weights recorded their backbone.
    await saveTunedWeights(join(run, 'tuned.safetensors'), model, [lora]);
    const logits = tf.tidy(() => model.forward(images).dataSync() as Float32Array);
    model.detach(lora);
    lora.dispose();
    model.dispose();
    const out = join(run, 'model.safetensors');
    const result = await runCli('export', '--run', run, '--weights', weights, '--out', out, '--backend', 'cpu');
    expect(result.code, result.stderr.join('\n')).toBe(0);
    const plain = new VisionTransformer(maeConfig, { weights: 'zeros' });
    loadStateDict(plain, parseSafetensors(new Uint8Array(readFileSync(out)), out).tensors);
    const exported = tf.tidy(() => plain.forward(images).dataSync() as Float32Array);
    plain.dispose();
    expect(maxDiff(logits, exported)).toBeLessThan(2e-5);
  });

  for (const [method, options, official] of [
    ['gated-prompt', { numPrompts: 2 }, ['enc.gate_logit', 'enc.prompt_embeddings', 'enc.temp', 'head.last_layer.bias', 'head.last_layer.weight']],
    ['sct', { k: 4, selection: 'random' }, ['blocks.0.sct_attn.adapt_linear.bias', 'blocks.0.sct_attn.adapt_linear.weight', 'blocks.0.sct_attn.channel_index', 'blocks.1.sct_attn.adapt_linear.bias', 'blocks.1.sct_attn.adapt_linear.weight', 'blocks.1.sct_attn.channel_index', 'head.bias', 'head.weight']],
    ['vqt', { numQueries: 2 }, ['enc.transformer.encoder.query_prompt_embeddings', 'head.last_layer.bias', 'head.last_layer.weight']],
    ['vpt-shallow', { numPrompts: 3 }, ['enc.transformer.prompt_embeddings', 'head.last_layer.bias', 'head.last_layer.weight']],
    ['vpt-deep', { numPrompts: 2 }, ['enc.transformer.deep_prompt_embeddings', 'enc.transformer.prompt_embeddings', 'head.last_layer.bias', 'head.last_layer.weight']],
  ] as const) {
    it(`writes ${method} under the official code's names, and import reads it back to the same logits`, async () => {
      const { run, logits } = await tunedRun(`official-${method}`, method, options);
      const out = join(run, 'official.safetensors');
      const exported = await runCli('export', '--run', run, '--out', out);
      expect(exported.code, exported.stderr.join('\n')).toBe(0);
      const { tensors } = parseSafetensors(new Uint8Array(readFileSync(out)), out);
      expect([...tensors.keys()].sort()).toEqual(official);
      if (method === 'vqt') expect(tensors.get('enc.transformer.encoder.query_prompt_embeddings')!.shape).toEqual([2, 2, 32]);
      if (method === 'gated-prompt') expect(tensors.get('enc.prompt_embeddings')!.shape).toEqual([1, 2, 32]);
      // KMnP/vpt's shapes: [1, P, D] before block 0, [L-1, P, D] for the later blocks.
      if (method === 'vpt-shallow') expect(tensors.get('enc.transformer.prompt_embeddings')!.shape).toEqual([1, 3, 32]);
      if (method === 'vpt-deep') expect(tensors.get('enc.transformer.deep_prompt_embeddings')!.shape).toEqual([1, 2, 32]);

      const back = join(run, 'imported', 'tuned.safetensors');
      const imported = await runCli('import', '--method', method, '--backbone', tinyVit('config.json'), '--in', out, '--out', back, '--backend', 'cpu');
      expect(imported.code, imported.stderr.join('\n')).toBe(0);
      expect(maxDiff(logits, await logitsOfTuned(back))).toBe(0);
    });
  }

  it('imports the method parameters of a whole official checkpoint and leaves its other keys alone', async () => {
    const { run, logits } = await tunedRun('official-checkpoint', 'gated-prompt', { numPrompts: 3, temperature: false });
    const exported = join(run, 'official.safetensors');
    expect((await runCli('export', '--run', run, '--out', exported)).code).toBe(0);
    // The SSLViT state dict holds the whole encoder under `enc.` beside the prompts.
    const { tensors } = parseSafetensors(new Uint8Array(readFileSync(exported)), exported);
    const backbone = (await readCheckpoint(tinyVit('tiny-vit.safetensors'))).stateDict;
    const checkpoint = new Map([...tensors, ...[...backbone].map(([key, tensor]) => [`enc.${key}`, tensor] as const)]);
    const file = join(run, 'checkpoint.safetensors');
    writeFileSync(file, serializeSafetensors(checkpoint));
    const back = join(run, 'from-checkpoint.safetensors');
    const imported = await runCli('import', '--method', 'gated-prompt', '--backbone', tinyVit('config.json'), '--in', file, '--out', back, '--backend', 'cpu');
    expect(imported.code, imported.stderr.join('\n')).toBe(0);
    expect(imported.stderr.at(-1)).toMatch(/4 tensors; 32 other keys left alone/);
    expect(maxDiff(logits, await logitsOfTuned(back))).toBe(0);
  });

  it("refuses SCT's official tensors without channel indices (its code recomputes them), naming what is missing, unless --channels gives them", async () => {
    const { run, logits } = await tunedRun('official-sct-no-channels', 'sct', { k: 4, selection: 'random' });
    const exported = join(run, 'official.safetensors');
    expect((await runCli('export', '--run', run, '--out', exported)).code).toBe(0);
    const { tensors } = parseSafetensors(new Uint8Array(readFileSync(exported)), exported);
    const file = join(run, 'ckpt_epoch_best.safetensors');
    writeFileSync(file, serializeSafetensors(new Map([...tensors].filter(([key]) => !key.endsWith('channel_index')))));
    const back = join(run, 'no-channels', 'tuned.safetensors');
    const imported = await runCli('import', '--method', 'sct', '--backbone', tinyVit('config.json'), '--in', file, '--out', back, '--backend', 'cpu');
    expect(imported.code).toBe(1);
    expect(imported.stderr.at(-1)).toMatch(/ckpt_epoch_best\.safetensors \(sct, official names\) does not fit the model: missing keys: blocks\.0\.sct_attn\.channel_index, blocks\.1\.sct_attn\.channel_index$/);
    expect(existsSync(back)).toBe(false);

    // With the indices from elsewhere (--channels: one list per block), the same model as the run's.
    const channels = join(run, 'channels.json');
    writeFileSync(channels, JSON.stringify([0, 1].map((block) => Array.from(tensors.get(`blocks.${block}.sct_attn.channel_index`)!.data as Int32Array))));
    const given = await runCli('import', '--method', 'sct', '--backbone', tinyVit('config.json'), '--in', file, '--channels', channels, '--out', back, '--backend', 'cpu');
    expect(given.code, given.stderr.join('\n')).toBe(0);
    expect(maxDiff(logits, await logitsOfTuned(back))).toBe(0);
    const short = join(run, 'short.json');
    writeFileSync(short, '[[1, 2, 3, 4]]');
    const refused = await runCli('import', '--method', 'sct', '--backbone', tinyVit('config.json'), '--in', file, '--channels', short, '--out', join(run, 'refused.safetensors'));
    expect(refused.code).toBe(1);
    expect(refused.stderr.at(-1)).toMatch(/short\.json: channels must hold one list per block with an SCT module in \S+ckpt_epoch_best\.safetensors \(2: blocks 0, 1\), got \[\[1, 2, 3, 4\]\]/);
    const notSct = await runCli('import', '--method', 'vqt', '--backbone', tinyVit('config.json'), '--in', file, '--channels', channels, '--out', join(run, 'refused.safetensors'));
    expect(notSct.code).toBe(2);
    expect(existsSync(join(run, 'refused.safetensors'))).toBe(false);
  });

  it('refuses what it cannot write, in one line naming the file and the reason, writing nothing', async () => {
    const adapter = await tunedRun('refused-adapter', 'adapter', {});
    const out = join(directory, 'refused.safetensors');
    const folded = await runCli('export', '--run', adapter.run, '--weights', tinyVit('tiny-vit.safetensors'), '--out', out, '--backend', 'cpu');
    expect(folded.code).toBe(1);
    expect(folded.stderr.at(-1)).toMatch(/adapter does not fold into the backbone's weights: its bottleneck has a GELU/);

    const sctMlp = await tunedRun('refused-sct', 'sct', { k: 4, selection: 'random', position: 'mlp' });
    const mlp = await runCli('export', '--run', sctMlp.run, '--out', out);
    expect(mlp.code).toBe(1);
    expect(mlp.stderr.at(-1)).toMatch(/tuned\.safetensors: sct option position must be "attn" to be written under the official code's names .*, got "mlp"/);

    const missing = await runCli('export', '--run', join(directory, 'nothing-here'), '--weights', tinyVit('tiny-vit.safetensors'), '--out', out);
    expect(missing.code).toBe(1);
    expect(missing.stderr.at(-1)).toMatch(/nothing-here\/tuned\.safetensors: no such file/);

    const twoStage = await tunedRun('refused-two-stage', 'vqt', {});
    const firstStage = await tunedRun('refused-two-stage/stage1', 'vpt-deep', {});
    expect(existsSync(join(firstStage.run, 'tuned.safetensors'))).toBe(true);
    const both = await runCli('export', '--run', twoStage.run, '--out', out);
    expect(both.code).toBe(2);
    expect(both.stderr.at(-1)).toMatch(/refused-two-stage is a two-stage run, and a file holds one stage: export --tuned \S+refused-two-stage\/stage1\/tuned\.safetensors \(the first\) and --tuned \S+refused-two-stage\/tuned\.safetensors \(the second/);
    // The commands it names work: each stage under its own official names.
    for (const [file, key] of [[join(firstStage.run, 'tuned.safetensors'), 'enc.transformer.deep_prompt_embeddings'], [join(twoStage.run, 'tuned.safetensors'), 'enc.transformer.encoder.query_prompt_embeddings']] as const) {
      const stage = join(directory, `two-stage-${key}.safetensors`);
      const exported = await runCli('export', '--tuned', file, '--out', stage);
      expect(exported.code, exported.stderr.join('\n')).toBe(0);
      expect(parseSafetensors(new Uint8Array(readFileSync(stage)), stage).tensors.has(key)).toBe(true);
    }

    const noWeights = await runCli('export', '--run', adapter.run, '--out', out);
    expect(noWeights.code).toBe(2);
    expect(noWeights.stderr.at(-1)).toMatch(/give --weights <pretrained checkpoint>: .*refused-adapter\/tuned\.safetensors does not record the backbone it was tuned on/);

    const unmapped = await runCli('import', '--method', 'adapter', '--backbone', tinyVit('config.json'), '--in', tinyVit('tiny-vit.safetensors'), '--out', out);
    expect(unmapped.code).toBe(1);
    expect(unmapped.stderr.at(-1)).toMatch(/method has no official parameter names here \(mapped: sct, vpt-shallow, vpt-deep, gated-prompt, vqt\), got "adapter"/);

    const empty = await runCli('import', '--method', 'vqt', '--backbone', tinyVit('config.json'), '--in', tinyVit('tiny-vit.safetensors'), '--out', out);
    expect(empty.code).toBe(1);
    expect(empty.stderr.at(-1)).toMatch(/tiny-vit\.safetensors: holds none of vqt's official parameters/);
    expect(existsSync(out)).toBe(false);
  });
});

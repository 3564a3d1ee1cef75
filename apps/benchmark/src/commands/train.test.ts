import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { classificationProtocol, createBatchSource, loadClassificationSplit, pipelinePreset, writeSyntheticDataset } from '@visual-peft/datasets';
import { evaluate, loadTunedModel } from '@visual-peft/training';
import { layerNorm } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeImageFolder } from './__fixtures__/image-folder';
import { writeTinyMaeCheckpoint } from './__fixtures__/mae-checkpoint';
import { registerResidualScale } from './__fixtures__/residual-scale';
import { resolveBackbone } from '../backbone';
import { findMethod, methodDefinitions } from '../methods';
import { runCli } from '../run-cli';
import { firstBatch, trainJob } from '../train-job';

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-train-'));
const root = join(directory, 'vtab-1k');
// A method only this test defines: `train` takes it by name like the packages' methods.
registerResidualScale();

function trainArgs(method: string, out: string, ...extra: string[]): string[] {
  return [
    'train', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'),
    '--dataset', 'vtab-eurosat', '--root', root, '--method', method, '--out', out,
    '--epochs', '2', '--batch-size', '4', '--lr', '0.05', '--backend', 'cpu', ...extra,
  ];
}

describe('visual-peft-bench train', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', root, { count: 8 });
  });

  it('trains a linear probe on the protocol’s splits, writes checkpoints, tuned weights and a JSON result, and resumes', async () => {
    const out = join(directory, 'linear');
    const first = await runCli(...trainArgs('linear', out));
    expect(first.code).toBe(0);
    expect(first.stderr.filter((line) => line.startsWith('epoch '))).toEqual([expect.stringMatching(/^epoch 1\/2: train loss \d+\.\d{4}, top-1 \d+\.\d{2}%$/), expect.stringMatching(/^epoch 2\/2: /)]);
    const result = JSON.parse(first.stdout[0]!);
    expect(result).toMatchObject({ method: 'linear', dataset: 'vtab-eurosat', trainSplit: 'train800', evalSplit: 'val200', epochs: 2, status: 'completed', resumedFrom: null });
    expect(result.top1).toBeGreaterThanOrEqual(0);
    expect(result.parameters).toMatchObject({ trainable: 32 * 10 + 10, extra: 0 });
    // What produced the numbers, as run records it for every suite job.
    expect(result.environment).toMatchObject({ backend: 'cpu', backendPackage: '@tensorflow/tfjs-backend-cpu', device: 'CPU (JavaScript)', tfjsCoreVersion: '4.22.0', node: process.version });
    expect(Object.keys(result.environment.packages)).toContain('@visual-peft/training');
    for (const file of ['tuned.safetensors', 'result.json', 'checkpoints/checkpoint.json']) expect(existsSync(join(out, file)), file).toBe(true);

    const again = await runCli(...trainArgs('linear', out));
    expect(again.code).toBe(0);
    const resumed = JSON.parse(again.stdout[0]!);
    expect(resumed.resumedFrom).toMatchObject({ epoch: 2 });
    expect(resumed.top1).toBe(result.top1);
  });

  it('runs the data-dependent initialisation of SCT and the split forward pass of VQT', async () => {
    const sct = await runCli(...trainArgs('sct', join(directory, 'sct'), '--set', 'k=4', '--epochs', '1'));
    expect(sct.code, sct.stderr.join('\n')).toBe(0);
    expect(JSON.parse(sct.stdout[0]!).parameters.extra).toBe(2 * (16 + 4));
    const vqt = await runCli(...trainArgs('vqt', join(directory, 'vqt'), '--epochs', '1', '--optimizer', 'adam', '--lr', '0.001'));
    expect(vqt.code, vqt.stderr.join('\n')).toBe(0);
    expect(JSON.parse(vqt.stdout[0]!)).toMatchObject({ method: 'vqt', parameters: { extra: 64, trainableBackbone: 0 } });
  });

  it('trains a method registered at run time and writes the diagnostics before training and after each epoch into the result', async () => {
    const trained = await runCli(...trainArgs('residual-scale', join(directory, 'scale')));
    expect(trained.code, trained.stderr.join('\n')).toBe(0);
    const result = JSON.parse(trained.stdout[0]!);
    expect(result).toMatchObject({ method: 'residual-scale', parameters: { extra: 2 } });
    expect(result.diagnostics.map((entry: { epoch: number }) => entry.epoch)).toEqual([-1, 0, 1]);
    expect(result.diagnostics[2].methods['residual-scale'].map((record: { name: string }) => record.name)).toEqual(['mlp-scale', 'probe-mean-logit']);
    // The linear probe has no diagnostics: its epochs carry none.
    expect(JSON.parse(readFileSync(join(directory, 'linear', 'result.json'), 'utf8')).diagnostics).toEqual([{ epoch: -1, methods: {} }, { epoch: 0, methods: {} }, { epoch: 1, methods: {} }]);
  });

  it('runs batches as micro-batches (a number, or auto from two probe passes), says so and records it; the result stays the batch’s', async () => {
    const whole = JSON.parse(readFileSync(join(directory, 'linear', 'result.json'), 'utf8'));
    expect(whole).toMatchObject({ microBatch: 4, recompute: false });
    const split = await runCli(...trainArgs('linear', join(directory, 'linear-split'), '--micro-batch', '3'));
    expect(split.code, split.stderr.join('\n')).toBe(0);
    expect(split.stderr).toContain('train: micro-batch 3 of 4 images per pass');
    const result = JSON.parse(split.stdout[0]!);
    expect(result).toMatchObject({ microBatch: 3, recompute: false, status: 'completed' });
    expect(Math.abs(result.loss - whole.loss)).toBeLessThan(1e-5 * whole.loss);
    const auto = await runCli(...trainArgs('bias', join(directory, 'bias-auto'), '--micro-batch', 'auto', '--recompute', '--epochs', '1'));
    expect(auto.code, auto.stderr.join('\n')).toBe(0);
    expect(auto.stderr.find((line) => line.startsWith('train: micro-batch'))).toMatch(
      /^train: micro-batch [1-4] of 4 images per pass \(auto: [\d.]+ MiB per image, [\d.]+ MiB fixed, 80% of [\d.]+ MiB \(half the host memory\)\)$/,
    );
    expect(JSON.parse(auto.stdout[0]!)).toMatchObject({ microBatch: expect.any(Number), recompute: true });
  });

  it('reads an MAE-layout checkpoint (norm, no fc_norm, no head) per family: --family mae pools the mean into the pretrained norm for GatedPT, a fresh fc_norm for VPT', async () => {
    const mae = writeTinyMaeCheckpoint(directory);
    const maeArgs = (method: string, out: string, ...extra: string[]) =>
      ['train', '--backbone', tinyVit('config.json'), '--weights', mae.weights, '--dataset', 'vtab-eurosat', '--root', root, '--method', method, '--out', join(directory, out), '--epochs', '1', '--batch-size', '4', '--lr', '0.05', '--backend', 'cpu', ...extra];
    const gated = await runCli(...maeArgs('gated-prompt', 'mae-gated', '--family', 'mae', '--set', 'numPrompts=2'));
    expect(gated.code, gated.stderr.join('\n')).toBe(0);
    expect(JSON.parse(gated.stdout[0]!)).toMatchObject({ family: 'mae', head: { pool: 'avg', norm: 'from-norm', init: 'vpt', std: null } });
    const vpt = await runCli(...maeArgs('vpt-shallow', 'mae-vpt', '--family', 'mae'));
    expect(vpt.code, vpt.stderr.join('\n')).toBe(0);
    expect(JSON.parse(vpt.stdout[0]!)).toMatchObject({ family: 'mae', head: { pool: 'avg', norm: 'fresh', init: 'vpt' } });
    // SCT's code draws its head as PyTorch's nn.Linear; --head-init replaces any method's.
    const sct = await runCli(...maeArgs('sct', 'mae-sct', '--family', 'moco-v3', '--set', 'k=4'));
    expect(JSON.parse(sct.stdout[0]!)).toMatchObject({ family: 'moco-v3', head: { pool: 'token', norm: 'checkpoint', init: 'torch' } });
    const timm = await runCli(...maeArgs('linear', 'mae-timm', '--family', 'mae', '--head-init', 'timm'));
    expect(JSON.parse(timm.stdout[0]!)).toMatchObject({ head: { pool: 'avg', norm: 'fresh', init: 'timm' } });
    // An average-pooling config with the MAE checkpoint loads from the command line without a family: MAE's own layout.
    const avg = await runCli('train', '--backbone', mae.avgConfig, ...maeArgs('linear', 'mae-avg').slice(3));
    expect(avg.code, avg.stderr.join('\n')).toBe(0);
    expect(JSON.parse(avg.stdout[0]!)).toMatchObject({ family: null, head: { pool: 'avg', norm: 'from-norm', init: 'vpt' } });
    const bad = await runCli(...maeArgs('linear', 'x', '--family', 'dino'));
    expect(bad.code).toBe(2);
    expect(bad.stderr.at(-1)).toMatch(/--family must be one of supervised, mae, moco-v3, got "dino"/);
    const badInit = await runCli(...maeArgs('linear', 'x', '--head-init', 'xavier'));
    expect(badInit.stderr.at(-1)).toMatch(/--head-init must be one of timm, vpt, torch, zeros, got "xavier"/);
  });

  it('feeds the classifier the pretrained norm of the mean of every token but CLS, prompts included', async () => {
    const mae = writeTinyMaeCheckpoint(directory);
    const split = await loadClassificationSplit('vtab-eurosat', root, 'train800', { seed: 0 });
    const config = await resolveBackbone(mae.avgConfig, { numClasses: split.numClasses });
    const before = tf.memory().numTensors;
    const checked = await trainJob(
      {
        backbone: config,
        weights: { source: mae.weights, stateDict: mae.stateDict },
        method: findMethod('gated-prompt'),
        options: { numPrompts: 3 },
        head: { init: 'vpt', std: null, norm: 'from-norm' },
        train: split,
        validation: null,
        pipelines: { train: 'vtab', eval: 'vtab' },
        batchSize: 4,
        seed: 0,
        trainer: { epochs: 1, optimizer: { kind: 'sgd', learningRate: 1e-9 } },
        outputDir: join(directory, 'mae-pool'),
      },
      async ({ model, evalSource }) => {
        expect(model.norm).toBeNull();
        const gamma = model.fcNorm!.weight.variable;
        expect(Array.from(gamma.dataSync())).toEqual(Array.from(mae.stateDict.get('norm.weight')!.data as Float32Array));
        const batch = await firstBatch(evalSource(split));
        const images = tf.tensor4d(batch.images, [...batch.shape]);
        const [logits, expected] = tf.tidy(() => {
          const tokens = model.forwardFeatures(images);
          expect(tokens.shape[1]).toBe(1 + 3 + 16);
          const pooled = tf.mean(tf.slice(tokens, [0, 1, 0], [-1, -1, -1]), 1) as tf.Tensor2D;
          const normed = layerNorm(pooled, gamma as tf.Tensor1D, model.fcNorm!.bias.variable as tf.Tensor1D, config.layerNormEps);
          const head = model.head!;
          return [model.forward(images), tf.add(tf.matMul(normed, head.weight.variable as tf.Tensor2D), head.bias!.variable)];
        });
        const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(logits, expected))).dataSync()[0]!);
        tf.dispose([logits, expected, images]);
        // The head starts as VPT's: every class at the prior bias.
        expect(Array.from(model.head!.bias!.variable.dataSync()).every((b) => Math.abs(b + Math.log(99)) < 1e-3)).toBe(true);
        return gap;
      },
    );
    expect(checked).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('saves what loadTunedModel needs: the rebuilt model scores the evaluation split as the run did (checkpoint, MAE norm, SCT, seeded backbone), with an image folder’s class names', async () => {
    const definitions = methodDefinitions();
    /** The loaded run's top-1 and loss on a split through the protocol's evaluation pipeline. */
    const rescore = async (run: string, dataset: 'vtab-eurosat' | 'image-folder', datasetRoot: string, split: string) => {
      const loaded = await loadTunedModel({ run }, { definitions });
      const before = tf.memory().numTensors;
      try {
        const examples = await loadClassificationSplit(dataset, datasetRoot, split, { seed: 0 });
        const pipeline = pipelinePreset(classificationProtocol(dataset).evalPipeline, { imageSize: 32 });
        const { top1, loss } = await evaluate(loaded.model, createBatchSource(examples, { batchSize: 4, seed: 0, pipeline }));
        return { top1, loss, classNames: loaded.classNames, methods: loaded.methods.map((method) => method.name), backboneInit: loaded.manifest.backboneInit };
      } finally {
        expect(tf.memory().numTensors).toBe(before);
        loaded.methods.forEach((method) => method.dispose());
        loaded.model.dispose();
      }
    };
    for (const [name, methods] of [['linear', []], ['sct', ['sct']], ['mae-gated', ['gated-prompt']]] as const) {
      const result = JSON.parse(readFileSync(join(directory, name, 'result.json'), 'utf8'));
      const again = await rescore(join(directory, name), 'vtab-eurosat', root, 'val200');
      expect(again.top1, name).toBe(result.top1);
      expect(again.loss, name).toBeCloseTo(result.loss, 5);
      expect(again).toMatchObject({ classNames: null, methods, backboneInit: { weights: expect.stringMatching(/\.safetensors$/), fcNorm: name === 'mae-gated' ? 'from-norm' : 'checkpoint' } });
    }
    // Your own images, no pretrained weights: the class names are the folder names, the backbone the run's seed.
    const folder = join(directory, 'fruit');
    const names = await writeImageFolder(folder);
    const out = join(directory, 'fruit-run');
    const trained = await runCli('train', '--backbone', tinyVit('config.json'), '--dataset', 'image-folder', '--root', folder, '--eval-split', 'all', '--method', 'linear', '--out', out, '--epochs', '1', '--batch-size', '4', '--seed', '3', '--backend', 'cpu');
    expect(trained.code, trained.stderr.join('\n')).toBe(0);
    const result = JSON.parse(trained.stdout[0]!);
    const again = await rescore(out, 'image-folder', folder, 'all');
    expect(again).toMatchObject({ top1: result.top1, classNames: names, backboneInit: { weights: null, seed: 3 } });
    expect(again.loss).toBeCloseTo(result.loss, 5);
  });

  it('evaluates an image folder on its val/ folder and reports each class’s top-1; --val-fraction is for image folders only', async () => {
    const folder = join(directory, 'fruit-val');
    const names = await writeImageFolder(folder);
    await writeImageFolder(join(folder, 'val'), names, 2);
    const out = join(directory, 'fruit-val-run');
    const trained = await runCli('train', '--backbone', tinyVit('config.json'), '--dataset', 'image-folder', '--root', folder, '--method', 'linear', '--out', out, '--epochs', '1', '--batch-size', '4', '--backend', 'cpu');
    expect(trained.code, trained.stderr.join('\n')).toBe(0);
    const result = JSON.parse(trained.stdout[0]!);
    expect(result).toMatchObject({ dataset: 'image-folder', trainSplit: 'train', evalSplit: 'val' });
    expect(Object.keys(result.classAccuracy)).toEqual(names);
    const percent = (value: number) => `${(100 * value).toFixed(2)}%`;
    expect(trained.stderr).toContain(`val: top-1 ${percent(result.top1)}; per class: ${names.map((name) => `${name} ${percent(result.classAccuracy[name])}`).join(', ')}`);
    // Two validation images per class: the split's top-1 is the mean of the classes'.
    expect(result.top1).toBeCloseTo(names.reduce((sum, name) => sum + result.classAccuracy[name], 0) / names.length, 12);

    const bad = await runCli(...trainArgs('linear', join(directory, 'x'), '--val-fraction', '0.2'));
    expect([bad.code, bad.stderr.at(-1)]).toEqual([2, 'visual-peft-bench: --val-fraction applies to --dataset image-folder only (vtab-eurosat has its own validation split)']);
    const range = await runCli('train', '--backbone', tinyVit('config.json'), '--dataset', 'image-folder', '--root', folder, '--method', 'linear', '--out', join(directory, 'x'), '--val-fraction', '1');
    expect([range.code, range.stderr.at(-1)]).toEqual([2, 'visual-peft-bench: --val-fraction must be in (0, 1), got "1"']);
  });

  it('refuses bad command lines with one line naming the flag', async () => {
    const bad = async (pattern: RegExp, ...argv: string[]) => {
      const { code, stderr } = await runCli(...argv);
      expect(code).toBe(2);
      expect(stderr.at(-1)).toMatch(pattern);
    };
    await bad(/--dataset must be one of cub, .*, got "imagenet"/, 'train', '--dataset', 'imagenet');
    await bad(/train: --out is required/, 'train', '--dataset', 'vtab-eurosat', '--root', root);
    await bad(/--optimizer must be one of sgd, adamw, adam, got "lamb"/, ...trainArgs('linear', join(directory, 'x'), '--optimizer', 'lamb'));
    await bad(/--lr must be a positive number, got "-1"/, ...trainArgs('linear', join(directory, 'x'), '--lr=-1'));
    for (const value of ['5', '0', '-1', '1.5', 'all', '']) {
      const rule = `--micro-batch must be auto or an integer from 1 to the batch size (--batch-size 4), got ${JSON.stringify(value)}`;
      await bad(new RegExp(rule.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), ...trainArgs('linear', join(directory, 'x'), `--micro-batch=${value}`));
    }
    for (const method of ['linear', 'vqt']) {
      await bad(new RegExp(`^visual-peft-bench: --recompute recomputes the backbone's blocks in the backward pass, and ${method} does not back-propagate through them`), ...trainArgs(method, join(directory, 'x'), '--recompute'));
    }
    await bad(/train: Option '--recompute' does not take an argument/, ...trainArgs('linear', join(directory, 'x'), '--recompute=yes'));
    expect(existsSync(join(directory, 'x'))).toBe(false);
  });
});

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { VisionTransformer, loadCheckpoint, readCheckpoint, resolveVitConfig } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticFashionMnist } from '../demo/__fixtures__/synthetic-fashion-mnist';
import { sincosPosEmbed } from '../pretrain/sincos-pos-embed';
import { LOCK_FILE } from '../output-lock';
import { runCli } from '../run-cli';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-pretrain-'));
const backbone = join(directory, 'tiny.json');
const data = join(directory, 'fashion-mnist');
const smallData = join(directory, 'fashion-mnist-small');
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TINY = { imgSize: 28, patchSize: 7, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2 };

function pretrainArgs(kind: string, out: string, ...extra: string[]): string[] {
  return ['pretrain', '--kind', kind, '--out', out, '--data', data, '--backbone', backbone, '--epochs', '1', '--batch-size', '32', '--backend', 'cpu', ...extra];
}

beforeAll(() => {
  writeFileSync(backbone, JSON.stringify(TINY));
  // 20 training and 10 test images per pretraining class; 1000 + 1000 unseen-class images for the probe's task.
  writeSyntheticFashionMnist(data, { train: [20, 200], test: [10, 200] });
  // 8 training and 4 test images per pretraining class, for the runs Ctrl-C stops (no probe).
  writeSyntheticFashionMnist(smallData, { train: [8, 0], test: [4, 0] });
});

describe('visual-peft-bench pretrain', () => {
  it('pretrains by MAE and writes loadable timm weights, the config and the recipe with a linear probe; a second run resumes', async () => {
    const out = join(directory, 'mae');
    const first = await runCli(...pretrainArgs('mae', out, '--probe-epochs', '1'));
    expect(first.code, first.stderr.join('\n')).toBe(0);
    expect(first.stderr).toContainEqual(expect.stringMatching(/^pretrain mae: epoch 1\/1: reconstruction loss \d+\.\d{4} \(\d+\.\d s\)$/));
    expect(first.stderr).toContainEqual(expect.stringMatching(/^pretrain mae: linear probe on fmnist-unseen: pretrained \d+\.\d\d%, random init \d+\.\d\d%$/));

    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toEqual(JSON.parse(JSON.stringify(resolveVitConfig({ ...TINY, numClasses: 0 }))));
    const recipe = JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'));
    expect(recipe).toMatchObject({
      kind: 'mae',
      recipe: { epochs: 1, batchSize: 32, seed: 0, optimizer: { kind: 'adamw', betas: [0.9, 0.95] }, mae: { maskRatio: 0.75, normPixLoss: true } },
      data: { trainImages: 100, classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat'] },
      resumedFrom: null,
      probe: { task: 'fmnist-unseen', train: 'train800val200', settings: { epochs: 1 } },
      environment: { backend: 'cpu', node: process.version },
    });
    expect(recipe.finalLoss).toBeGreaterThan(0);
    expect(recipe.history).toHaveLength(1);
    for (const value of [recipe.probe.pretrainedTop1, recipe.probe.randomInitTop1]) expect(value).toBeGreaterThanOrEqual(0);

    const { stateDict, metadata } = await readCheckpoint(join(out, 'model.safetensors'));
    expect(metadata.kind).toBe('mae');
    expect([...stateDict.keys()].filter((key) => key.startsWith('decoder') || key === 'mask_token' || key.startsWith('head'))).toEqual([]);
    expect(Array.from(stateDict.get('pos_embed')!.data as Float32Array)).toEqual(Array.from(sincosPosEmbed(16, 4, 4, 1)));
    const before = tf.memory().numTensors;
    const model = new VisionTransformer({ ...config, numClasses: 5 });
    await loadCheckpoint(model, join(out, 'model.safetensors'), { head: 'discard' });
    expect(Array.from(model.parameter('blocks.0.attn.qkv.weight').variable.dataSync()).some((value) => value !== 0)).toBe(true);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const weights = readFileSync(join(out, 'model.safetensors'));
    const again = await runCli(...pretrainArgs('mae', out, '--probe-epochs', '0'));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'))).toMatchObject({ resumedFrom: 1, probe: null });
    expect(readFileSync(join(out, 'model.safetensors'))).toEqual(weights);
  });

  it('pretrains with labels on classes 0-4, validating on their test images', async () => {
    const out = join(directory, 'supervised');
    const { code, stderr, stdout } = await runCli(...pretrainArgs('supervised', out, '--probe-epochs', '0', '--lr', '0.002'));
    expect(code, stderr.join('\n')).toBe(0);
    expect(stderr).toContainEqual(expect.stringMatching(/^pretrain supervised: epoch 1\/1: train loss \d+\.\d{4}, validation top-1 \d+\.\d\d%$/));
    const recipe = JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'));
    expect(recipe).toMatchObject({ kind: 'supervised', recipe: { labelSmoothing: 0.1, optimizer: { learningRate: 0.002 }, mae: null }, data: { validationImages: 50 }, probe: null });
    expect(recipe.finalValidationTop1).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(stdout[0]!)).toMatchObject({ kind: 'supervised', out });
    const { stateDict } = await readCheckpoint(join(out, 'model.safetensors'));
    expect(stateDict.get('head.weight')!.shape).toEqual([5, 16]);
  });

  // 40 images in batches of 4: 10 steps an epoch, so a stop after epoch 1's line lands within epoch 2.
  it.each(['mae', 'supervised'])('Ctrl-C stops %s pretraining after a step with exit 130 and its checkpoint, and the rerun ends with an unbroken run\'s weights', async (kind) => {
    const args = (out: string) => ['pretrain', '--kind', kind, '--out', out, '--data', smallData, '--backbone', backbone, '--epochs', '3', '--batch-size', '4', '--probe-epochs', '0', '--backend', 'cpu'];
    const out = join(directory, `${kind}-interrupted`);
    const child = spawn(process.execPath, [cli, ...args(out)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/epoch 1\/3:/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/pretrain: stopping after the current training step with a checkpoint \(Ctrl-C again to quit at once, from the last checkpoint\)/);
    const stopped = new RegExp(`visual-peft-bench: pretrain: stopped after step (\\d+) \\(epoch 2/3\\), checkpointed in ${join(out, 'checkpoints')}: run the same command again to resume\n$`).exec(stderr);
    expect(stopped, stderr).not.toBeNull();
    const step = Number(stopped![1]);
    // Within epoch 2 (steps 11 to 19) the checkpoint holds the steps done in it; at its end, the epoch's own.
    expect(JSON.parse(readFileSync(join(out, 'checkpoints', 'checkpoint.json'), 'utf8')).partialEpoch).toEqual(step === 20 ? undefined : expect.objectContaining({ step: step - 10 }));
    expect(readdirSync(out, { recursive: true }).filter((name) => String(name).endsWith('.tmp') || String(name).endsWith(LOCK_FILE))).toEqual([]);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);

    const again = await runCli(...args(out));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'))).toMatchObject({ resumedFrom: 1 });
    const reference = join(directory, `${kind}-uninterrupted`);
    expect((await runCli(...args(reference))).code).toBe(0);
    expect(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(reference, 'model.safetensors')))).toBe(true);
    const losses = (dir: string) => JSON.parse(readFileSync(join(dir, 'recipe.json'), 'utf8')).history.map((epoch: { loss?: number; trainLoss?: number }) => epoch.loss ?? epoch.trainLoss);
    expect(losses(out)).toEqual(losses(reference));
  }, 120_000);

  it('Ctrl-C during the linear probe stops it with exit 130; the finished pretraining stays checkpointed for the rerun', async () => {
    const args = (out: string, probeEpochs: string) => ['pretrain', '--kind', 'mae', '--out', out, '--data', data, '--backbone', backbone, '--epochs', '1', '--batch-size', '32', '--probe-epochs', probeEpochs, '--backend', 'cpu'];
    const out = join(directory, 'probe-interrupted');
    const child = spawn(process.execPath, [cli, ...args(out, '30')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/pretrain mae: epoch 1\/1:/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(new RegExp(`visual-peft-bench: pretrain: stopped during the linear probe; the pretraining is finished and checkpointed in ${join(out, 'checkpoints')}: run the same command again to write its outputs \\(the probe starts over\\)\n$`));
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    expect(readdirSync(out, { recursive: true }).filter((name) => String(name).endsWith('.tmp') || String(name).endsWith(LOCK_FILE))).toEqual([]);
    // The probe is no part of the pretraining's checkpoint: a rerun without it only writes the outputs.
    const again = await runCli(...args(out, '0'));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect(again.stderr.filter((line) => line.startsWith('pretrain mae: epoch'))).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'))).toMatchObject({ resumedFrom: 1, probe: null });
  }, 120_000);

  it('ends bad input with one line and writes nothing', async () => {
    const out = join(directory, 'bad');
    expect(await runCli('pretrain', '--kind', 'simclr', '--out', out)).toMatchObject({
      code: 2,
      stderr: ['visual-peft-bench: --kind must be one of mae, supervised, got "simclr"'],
    });
    expect(await runCli('pretrain', '--kind', 'mae')).toMatchObject({ code: 2, stderr: ['visual-peft-bench: pretrain: --out is required'] });
    expect(await runCli('pretrain', '--kind', 'mae', '--out', out, '--lr=-1')).toMatchObject({ code: 2, stderr: ['visual-peft-bench: --lr must be a positive number, got "-1"'] });
    const missing = await runCli('pretrain', '--kind', 'mae', '--out', out, '--data', join(directory, 'nowhere'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toEqual([`visual-peft-bench: ${join(directory, 'nowhere', 'train-images-idx3-ubyte')}(.gz): missing IDX file`]);
    expect(existsSync(out)).toBe(false);
  });
});

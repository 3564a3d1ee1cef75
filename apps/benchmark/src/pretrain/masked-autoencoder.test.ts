import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ClassificationSplit } from '@visual-peft/datasets';
import { ConfigError, SeededRandom, VisionTransformer } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MaskedAutoencoder } from './masked-autoencoder';
import type { MaeConfig } from './masked-autoencoder';
import { pretrainMae } from './pretrain-mae';
import { defaultRecipe } from './pretrain-recipe';
import type { PretrainRecipe } from './pretrain-recipe';
import { randomMasking } from './random-masking';
import { sincosPosEmbed } from './sincos-pos-embed';

const TINY_VIT = { imgSize: 8, patchSize: 2, inChans: 3, embedDim: 16, depth: 1, numHeads: 2, numClasses: 0 } as const;
const TINY_MAE: MaeConfig = { maskRatio: 0.75, normPixLoss: true, decoder: { embedDim: 8, depth: 1, numHeads: 2 } };
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-mae-'));

let before: number;
beforeEach(() => (before = tf.memory().numTensors));
afterEach(() => expect(tf.memory().numTensors).toBe(before));

function randomImages(batch: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([batch, 3, 8, 8], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** 8x8 grayscale images of stripes with a random phase and direction: structure a decoder can learn. */
function stripes(count: number): ClassificationSplit {
  const random = new SeededRandom(5);
  const examples = Array.from({ length: count }, (_, record) => {
    const phase = random.integer(0, 3);
    const vertical = random.chance(0.5);
    const data = new Uint8Array(64);
    for (let i = 0; i < 64; i++) data[i] = ((vertical ? i % 8 : Math.floor(i / 8)) + phase) % 4 < 2 ? 230 : 20;
    return { image: { data, width: 8, height: 8, channels: 1 as const }, label: 0, origin: { file: 'stripes', record } };
  });
  return { dataset: 'stripes', split: 'train', numClasses: 1, examples };
}

describe('MaskedAutoencoder', () => {
  it('predicts every patch, [B, N, C*p*p], and frees what it allocates', () => {
    const encoder = new VisionTransformer(TINY_VIT);
    const mae = new MaskedAutoencoder(encoder, TINY_MAE, 1);
    const images = randomImages(3, 2);
    const prediction = mae.reconstruct(images, randomMasking(3, 16, 0.75, new SeededRandom(0)), { training: false });
    expect(prediction.shape).toEqual([3, 16, 12]);
    tf.dispose([prediction, images]);
    mae.dispose();
    encoder.dispose();
  });

  it('gives the encoder only the visible patches: changing masked pixels changes no prediction', () => {
    const encoder = new VisionTransformer(TINY_VIT);
    const mae = new MaskedAutoencoder(encoder, TINY_MAE, 1);
    const masking = randomMasking(2, 16, 0.75, new SeededRandom(4));
    const [first, second, changedVisible] = tf.tidy(() => {
      const images = randomImages(2, 3);
      const pixelMask = (value: number) => {
        // 1 on the pixels of patches whose mask equals `value`, per image, as [B, 3, 8, 8].
        const grid = tf.tensor4d(masking.mask.map((m) => (m === value ? 1 : 0)), [2, 1, 4, 4]);
        return tf.tile(tf.reshape(tf.tile(tf.reshape(grid, [2, 1, 4, 1, 4, 1]), [1, 1, 1, 2, 1, 2]), [2, 1, 8, 8]), [1, 3, 1, 1]);
      };
      const noise = randomImages(2, 9);
      const maskedChanged = tf.add(images, tf.mul(noise, pixelMask(1))) as tf.Tensor4D;
      const visibleChanged = tf.add(images, tf.mul(noise, pixelMask(0))) as tf.Tensor4D;
      const options = { training: false };
      return [mae.reconstruct(images, masking, options), mae.reconstruct(maskedChanged, masking, options), mae.reconstruct(visibleChanged, masking, options)];
    });
    expect(second.arraySync()).toEqual(first.arraySync());
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(changedVisible, first))).dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([first, second, changedVisible]);
    mae.dispose();
    encoder.dispose();
  });

  it('fixes the encoder position embedding to sine-cosine and trains everything else under MAE names', () => {
    const encoder = new VisionTransformer(TINY_VIT);
    const mae = new MaskedAutoencoder(encoder, TINY_MAE, 1);
    mae.setTrainable();
    expect(encoder.posEmbed.variable.trainable).toBe(false);
    expect(Array.from(encoder.posEmbed.variable.dataSync())).toEqual(Array.from(sincosPosEmbed(16, 4, 4, 1)));
    const parameters = mae.parameters;
    const keys = parameters.map((parameter) => parameter.key);
    expect(keys).not.toContain('pos_embed');
    expect(keys).toEqual(expect.arrayContaining(['cls_token', 'patch_embed.proj.weight', 'blocks.0.attn.qkv.weight', 'norm.weight', 'decoder_embed.weight', 'mask_token', 'decoder_blocks.0.mlp.fc2.weight', 'decoder_norm.bias', 'decoder_pred.weight']));
    expect(parameters.every((parameter) => parameter.variable.trainable)).toBe(true);
    const noDecay = parameters.filter((parameter) => parameter.vector).map((parameter) => parameter.key);
    expect(noDecay).toEqual(expect.arrayContaining(['cls_token', 'mask_token', 'blocks.0.norm1.weight', 'decoder_pred.bias']));
    expect(noDecay).not.toContain('decoder_pred.weight');
    mae.dispose();
    encoder.dispose();
  });

  it('refuses a backbone without CLS token and final norm, and a mask ratio outside (0, 1)', () => {
    const pooled = new VisionTransformer({ ...TINY_VIT, globalPool: 'avg' });
    expect(() => new MaskedAutoencoder(pooled, TINY_MAE)).toThrow(/backbone must have a CLS token and a final norm/);
    pooled.dispose();
    const encoder = new VisionTransformer(TINY_VIT);
    expect(() => new MaskedAutoencoder(encoder, { ...TINY_MAE, maskRatio: 0 })).toThrow(new ConfigError('maskRatio', 0, 'must be in (0, 1)'));
    encoder.dispose();
  });
});

describe('pretrainMae', () => {
  const recipe: PretrainRecipe = {
    ...defaultRecipe('mae'),
    epochs: 12,
    batchSize: 8,
    optimizer: { kind: 'adamw', learningRate: 1e-2, weightDecay: 0.05, betas: [0.9, 0.95] },
    schedule: { kind: 'cosine', unit: 'step', warmupEpochs: 1, minLr: 1e-4 },
    mae: TINY_MAE,
  };

  it('lowers the reconstruction loss and, killed after an epoch or stopped by its signal within one, resumes to the same weights as an uninterrupted run', async () => {
    const data = stripes(16);
    const weightsOf = (model: VisionTransformer) => model.parameters.map((parameter) => Array.from(parameter.variable.dataSync()));
    const whole = new VisionTransformer(TINY_VIT);
    const epochs: number[] = [];
    const result = await pretrainMae(whole, recipe, data, { checkpointDir: join(directory, 'whole'), onEpoch: (epoch) => epochs.push(epoch.epoch) });
    expect(epochs).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(result.resumedFrom).toBeNull();
    const losses = result.history.map((epoch) => epoch.loss);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);

    const checkpointDir = join(directory, 'killed');
    const killed = new VisionTransformer(TINY_VIT);
    const kill = (epoch: { epoch: number }) => {
      if (epoch.epoch === 4) throw new Error('killed');
    };
    await expect(pretrainMae(killed, recipe, data, { checkpointDir, onEpoch: kill })).rejects.toThrow('killed');
    killed.dispose();
    const resumedModel = new VisionTransformer(TINY_VIT);
    const resumed = await pretrainMae(resumedModel, recipe, data, { checkpointDir });
    expect(resumed.resumedFrom).toBe(5);
    expect(resumed.history.map((epoch) => epoch.loss)).toEqual(losses);
    expect(weightsOf(resumedModel)).toEqual(weightsOf(whole));

    await expect(pretrainMae(resumedModel, { ...recipe, seed: 1 }, data, { checkpointDir })).rejects.toThrow(/checkpoints holds a checkpoint of another pretraining run/);

    // Stopped by its signal within an epoch (2 steps each; the signal is read before each epoch and after each step:
    // the 11th read is after epoch 3's first step): a checkpoint of that step, and the rerun ends as the unbroken run.
    const stopDir = join(directory, 'stopped');
    let reads = 0;
    const signal = { get aborted() { reads += 1; return reads > 10; } } as AbortSignal;
    const stoppedModel = new VisionTransformer(TINY_VIT);
    const stopped = await pretrainMae(stoppedModel, recipe, data, { checkpointDir: stopDir, signal });
    stoppedModel.dispose();
    expect(stopped).toMatchObject({ status: 'stopped', steps: 7 });
    expect(stopped.history.map((epoch) => epoch.loss)).toEqual(losses.slice(0, 3));
    const recordPath = join(stopDir, 'checkpoint.json');
    const saved = readFileSync(recordPath, 'utf8');
    expect(JSON.parse(saved)).toMatchObject({ epoch: 3, partialEpoch: { step: 1 } });
    // A step within the epoch that does not fit it is refused before anything trains.
    writeFileSync(recordPath, saved.replace('"step": 1,', '"step": 2,'));
    const refused = new VisionTransformer(TINY_VIT);
    await expect(pretrainMae(refused, recipe, data, { checkpointDir: stopDir })).rejects.toThrow(`${recordPath}: partialEpoch must hold step (1 to 1), lossSum and seconds (finite numbers)`);
    refused.dispose();
    writeFileSync(recordPath, saved);
    // Stopped again before its first step: the steps done are the checkpoint's 7, and it is left as it was.
    const again = new VisionTransformer(TINY_VIT);
    const stoppedAgain = await pretrainMae(again, recipe, data, { checkpointDir: stopDir, signal: AbortSignal.abort() });
    again.dispose();
    expect(stoppedAgain).toMatchObject({ status: 'stopped', steps: 7 });
    expect(readFileSync(recordPath, 'utf8')).toBe(saved);
    const finished = new VisionTransformer(TINY_VIT);
    const rerun = await pretrainMae(finished, recipe, data, { checkpointDir: stopDir });
    expect(rerun).toMatchObject({ status: 'completed', steps: 24, resumedFrom: 3 });
    expect(rerun.history.map((epoch) => epoch.loss)).toEqual(losses);
    expect(weightsOf(finished)).toEqual(weightsOf(whole));
    finished.dispose();
    whole.dispose();
    resumedModel.dispose();
  });
});

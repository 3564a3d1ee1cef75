import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { readTunedWeights } from '@visual-peft/training';
import { readCheckpoint, serializeSafetensors } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-train-two-stage-'));
const root = join(directory, 'vtab-1k');

const trainArgs = (method: string, out: string, ...extra: string[]) => [
  'train', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'),
  '--dataset', 'vtab-eurosat', '--root', root, '--method', method, '--out', out,
  '--epochs', '1', '--batch-size', '4', '--lr', '0.05', '--backend', 'cpu', ...extra,
];

describe('visual-peft-bench train with two stages and compression', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', root, { count: 8 });
  });

  it('trains vqt+vpt-deep (stage 1 saved apart, stage 2 saves VQT alone) and compresses VQT’s head', async () => {
    const out = join(directory, 'vqt-vpt');
    const before = tf.memory().numTensors;
    const run = await runCli(...trainArgs('vqt+vpt-deep', out, '--first-set', 'numPrompts=3', '--compress-keep', '0.5'));
    expect(run.code, run.stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(run.stderr).toContainEqual(expect.stringMatching(/^stage 1, epoch 1\/1: /));
    const result = JSON.parse(run.stdout[0]!);
    expect(result).toMatchObject({ method: 'vqt+vpt-deep', firstStage: { method: 'vpt-deep', options: { numPrompts: 3 }, status: 'completed' } });
    expect(result.compression).toMatchObject({ keepFraction: 0.5, penalty: 1e-4, featuresBefore: 96, featuresAfter: 48 });
    expect(result.top1).toBe(result.compression.top1After);
    // 2 blocks x 3 prompts x 32 from stage 1, 2 queries x 32 from stage 2.
    expect(result.parameters.extra).toBe(2 * 3 * 32 + 2 * 32);
    // Stage 2 saved VQT and the model's head only: the frozen prompts stay in stage 1's file.
    const second = await readTunedWeights(join(out, 'tuned.safetensors'));
    expect(second.manifest.methods.map((method) => method.name)).toEqual(['vqt']);
    const first = await readTunedWeights(join(out, 'stage1', 'tuned.safetensors'));
    expect(first.manifest.methods.map((method) => method.name)).toEqual(['vpt-deep']);
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'))).toEqual(result);
    expect(result.firstStage.inputs).toEqual(result.inputs);

    // The same command over another checkpoint under the same name: the finished first stage is not reused.
    const swapped = join(directory, 'swapped', 'tiny-vit.safetensors');
    mkdirSync(dirname(swapped), { recursive: true });
    const { stateDict } = await readCheckpoint(tinyVit('tiny-vit.safetensors'));
    const changed = new Map(stateDict);
    const bias = stateDict.get('blocks.0.mlp.fc1.bias')!;
    changed.set('blocks.0.mlp.fc1.bias', { ...bias, data: (bias.data as Float32Array).map((value) => value + 1) });
    writeFileSync(swapped, serializeSafetensors(changed));
    const argv = trainArgs('vqt+vpt-deep', out, '--first-set', 'numPrompts=3', '--compress-keep', '0.5');
    argv[argv.indexOf('--weights') + 1] = swapped;
    const refused = await runCli(...argv);
    expect(refused.code).toBe(1);
    expect(refused.stderr.at(-1)).toMatch(/stage1\/result\.json: the first stage was tuned on other inputs \(inputs\.weights: "[0-9a-f]{64}" there, "[0-9a-f]{64}" here\); train into a new --out$/);
  });

  it('refuses compression for a method without VQT’s head and --first-set without two stages', async () => {
    const compress = await runCli(...trainArgs('linear', join(directory, 'bad'), '--compress-keep', '0.5'));
    expect(compress.code).toBe(2);
    expect(compress.stderr.join('\n')).toMatch(/--compress-keep compresses VQT's head/);
    const firstSet = await runCli(...trainArgs('vqt', join(directory, 'bad'), '--first-set', 'numPrompts=3'));
    expect(firstSet.code).toBe(2);
    expect(firstSet.stderr.join('\n')).toMatch(/--first-set applies to a two-stage --method/);
  });
});

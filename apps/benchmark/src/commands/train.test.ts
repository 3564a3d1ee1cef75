import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerResidualScale } from './__fixtures__/residual-scale';
import { runCli } from '../run-cli';

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
    const auto = await runCli(...trainArgs('linear', join(directory, 'linear-auto'), '--micro-batch', 'auto', '--recompute', '--epochs', '1'));
    expect(auto.code, auto.stderr.join('\n')).toBe(0);
    expect(auto.stderr.find((line) => line.startsWith('train: micro-batch'))).toMatch(
      /^train: micro-batch [1-4] of 4 images per pass \(auto: [\d.]+ MiB per image, [\d.]+ MiB fixed, 80% of [\d.]+ MiB \(half the host memory\)\)$/,
    );
    expect(JSON.parse(auto.stdout[0]!)).toMatchObject({ microBatch: expect.any(Number), recompute: true });
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
    await bad(/train: Option '--recompute' does not take an argument/, ...trainArgs('linear', join(directory, 'x'), '--recompute=yes'));
    expect(existsSync(join(directory, 'x'))).toBe(false);
  });
});

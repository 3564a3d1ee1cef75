import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { serializeNpy } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSuite } from './run';
import { runCli } from '../run-cli';
import { storedResults, suiteRunArgs } from './__fixtures__/suite-run';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-two-stage-'));
const data = join(directory, 'vtab-1k');
const quiet = { stdout: () => undefined, stderr: () => undefined };
const ID = 'tiny-vit__vtab-eurosat__vqt+vpt-deep__seed42';

/** vqt+vpt-deep on the tiny ViT: one epoch per stage, a one-point grid for both, optionally compressed. */
function writeSuite(name: string, compress: string | null): string {
  const path = join(directory, `${name}.yaml`);
  writeFileSync(
    path,
    [
      'suite: vtab-1k',
      'tasks: [vtab-eurosat]',
      'methods: [vqt+vpt-deep]',
      'seeds: [42]',
      'epochs: 1',
      'batchSize: 4',
      'grid: { learningRates: [0.05], weightDecays: [0] }',
      ...(compress === null ? [] : ['recipes:', `  vqt+vpt-deep: { compress: ${compress} }`]),
    ].join('\n'),
  );
  return path;
}

describe('two-stage methods in a suite', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', data, { count: 8 });
  });

  it('runs vqt+vpt-deep: VPT-deep to completion, then VQT over it frozen, one record with both stages', async () => {
    const out = join(directory, 'plain');
    const before = tf.memory().numTensors;
    const { code, stderr } = await runCli(...suiteRunArgs(data, writeSuite('plain', null), out));
    expect(code, stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const record = storedResults(out).get(ID)!;
    // Stage 2 is VQT with one query per block (VQT Sec. 4.3); stage 1 is VPT-deep with its recipe's 5 prompts.
    expect(record.protocol).toMatchObject({ optimizer: 'adam', epochs: 1, options: { numQueries: [1, 1] } });
    expect(record.protocol.firstStage).toMatchObject({ method: 'vpt-deep', protocol: { optimizer: 'sgd', epochs: 1, options: { numPrompts: 5 } }, metric: { name: 'top1' } });
    // Tiny ViT (2 blocks, 32 wide, 10 classes): VPT-deep adds 2 x 5 x 32, VQT 2 x 1 x 32 queries and a head on 32 + 2 x 32 features.
    const first = record.protocol.firstStage!.parameters;
    expect(first).toMatchObject({ extra: 320, trainable: 320 + 32 * 10 + 10 });
    expect(record.parameters).toMatchObject({ extra: 320 + 64, trainable: first.trainable + 64 + 96 * 10 + 10, trainableBackbone: 0 });
    expect(record.metric.value).toBeGreaterThanOrEqual(0);
    expect(record.protocol.compression).toBeUndefined();
    expect(existsSync(join(out, 'work', ID))).toBe(false);
    // Both stages kept as train leaves a two-stage run (stage1/ beside the second stage), which predict rebuilds.
    expect(record.weights).toBe(`weights/${ID}`);
    const folder = join(out, record.weights!);
    expect(JSON.parse(readFileSync(join(folder, 'stage1', 'tuned.json'), 'utf8')).methods).toEqual([expect.objectContaining({ name: 'vpt-deep' })]);
    expect(JSON.parse(readFileSync(join(folder, 'tuned.json'), 'utf8')).methods).toEqual([expect.objectContaining({ name: 'vqt' })]);
    const batch = join(directory, 'batch.npy');
    writeFileSync(batch, serializeNpy({ dtype: 'float32', shape: [2, 3, 32, 32], data: new Float32Array(2 * 3 * 32 * 32).map((_, index) => Math.sin(index)) }));
    const predicted = await runCli('predict', '--run', folder, batch, '--backend', 'cpu');
    expect(predicted.code, predicted.stderr.join('\n')).toBe(0);
    expect(predicted.stdout).toHaveLength(2);
  });

  it('compresses VQT’s head by group lasso after the final run and records top-1 before and after', async () => {
    const out = join(directory, 'compressed');
    const { code, stderr } = await runCli(...suiteRunArgs(data, writeSuite('compressed', '{ keepFraction: 0.5 }'), out));
    expect(code, stderr.join('\n')).toBe(0);
    const record = storedResults(out).get(ID)!;
    expect(record.protocol.compression).toMatchObject({ keepFraction: 0.5, penalty: 1e-4, featuresBefore: 96, featuresAfter: 48 });
    expect(record.metric.value).toBe(record.protocol.compression!.top1After);
    // The compressed head reads 48 features: the trainable count shrinks by 48 x 10 weights.
    expect(record.parameters.trainable).toBe(record.protocol.firstStage!.parameters.trainable + 64 + 48 * 10 + 10);
  });

  it('refuses compress on a method without VQT’s head', async () => {
    const path = join(directory, 'bad.yaml');
    writeFileSync(path, ['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [linear]', 'epochs: 1', 'batchSize: 4', 'grid: { learningRates: [0.05], weightDecays: [0] }', 'compress: { keepFraction: 0.5 }'].join('\n'));
    const { code, stderr } = await runCli(...suiteRunArgs(data, path, join(directory, 'bad')));
    expect(code).not.toBe(0);
    expect(stderr.join('\n')).toMatch(/compress.*applies to VQT's head only/);
  });

  it('resumes a job killed in stage 2 in stage 2: stage 1 is not run again', async () => {
    const out = join(directory, 'resume');
    const suite = writeSuite('resume', null);
    const stage1 = join(out, 'work', ID, 'stage1.json');
    const controller = new AbortController();
    await expect(runSuite(suiteRunArgs(data, suite, out).slice(1), quiet, { signal: controller.signal, onProgress: () => existsSync(stage1) && controller.abort() })).rejects.toThrow(/interrupted during job/);
    const firstStage = JSON.parse(readFileSync(stage1, 'utf8'));
    const written = statSync(stage1).mtimeMs;
    // Every progress event of the resumed session comes from stage 2: stage 1's work dir is never made again, its record never rewritten.
    const seen: { stage1Dir: boolean; mtime: number }[] = [];
    await runSuite(suiteRunArgs(data, suite, out).slice(1), quiet, {
      onProgress: () => seen.push({ stage1Dir: existsSync(join(out, 'work', ID, 'stage1')), mtime: statSync(stage1).mtimeMs }),
    });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((entry) => !entry.stage1Dir && entry.mtime === written)).toBe(true);
    const record = storedResults(out).get(ID)!;
    expect(statSync(stage1, { throwIfNoEntry: false })).toBeUndefined();
    expect(record.protocol.firstStage!.protocol).toEqual(firstStage.protocol);
    expect(record.protocol.firstStage!.metric).toEqual(firstStage.metric);
    const reference = storedResults(join(directory, 'plain')).get(ID)!;
    // The same protocol as an uninterrupted run's (the first stage's wall seconds aside).
    const withoutSeconds = (protocol: typeof record.protocol) => ({ ...protocol, firstStage: { ...protocol.firstStage!, seconds: 0 } });
    expect(withoutSeconds(record.protocol)).toEqual(withoutSeconds(reference.protocol));
    expect(record.metric.value).toBeCloseTo(reference.metric.value, 5);
  });
});

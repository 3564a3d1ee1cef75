import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { readTrainingCheckpoint } from '@visual-peft/training';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSuite } from './run';
import { runCli } from '../run-cli';
import { registerResidualScale } from './__fixtures__/residual-scale';
import { storedResults, suiteRunArgs, tinyVit } from './__fixtures__/suite-run';
import type { JobProgress } from '../suite/run-job';
import { auxiliaryTaps, auxiliaryUpScale, decodeStages, slideStride } from '../suite/segmentation-job';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-ade20k-'));
const data = join(directory, 'data');
const quiet = { stdout: () => undefined, stderr: () => undefined };
// A method only this test defines: the ade20k suite runs it like the packages' methods.
registerResidualScale();

/**
 * A tiny ADE20K suite: the 2-block 32x32 ViT run at 40x40 crops (its position embedding resampled
 * from 4x4 to 5x5 patches), 8-channel heads, batch 2 on 48x40 images (two sliding windows each).
 */
function writeSuite(name: string, methods: string[], iterations: number): string {
  const path = join(directory, `${name}.yaml`);
  writeFileSync(
    path,
    [
      'suite: ade20k',
      `methods: [${methods.join(', ')}]`,
      'seeds: [42]',
      `iterations: ${iterations}`,
      'batchSize: 2',
      'cropSize: 40',
      'headChannels: 8',
      ...(methods.some((method) => /prompt|spt|vpt/.test(method)) ? ['options:'] : []),
      ...methods.filter((method) => /prompt|spt|vpt/.test(method)).map((method) => `  ${method}: { numPrompts: 2 }`),
    ].join('\n'),
  );
  return path;
}

const runArgs = (suite: string, out: string, ...extra: string[]) => suiteRunArgs(data, suite, out, ...extra);

describe('visual-peft-bench run --suite ade20k', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('ade20k', join(data, 'ADEChallengeData2016'), { count: 5, width: 48, height: 40 });
  });

  it('taps blocks 5 and 9 of 12 (GatedPT) at the same depths elsewhere, decodes (and up-samples the auxiliary heads) back to the crop, and slides at 2/3 of it', () => {
    expect([16, 8, 14].map(decodeStages)).toEqual([4, 3, 4]);
    // Auxiliary heads: 2 stages of x4 for 16-pixel patches (mmseg's ADE20K config), x2 where no whole root exists.
    expect([16, 4, 8, 14].map(auxiliaryUpScale)).toEqual([4, 2, 2, 2]);
    expect(auxiliaryTaps(12)).toEqual([4, 8]);
    expect(auxiliaryTaps(24)).toEqual([9, 17]);
    expect(auxiliaryTaps(2)).toEqual([0, 1]);
    expect(auxiliaryTaps(1)).toEqual([0]);
    expect(slideStride(512)).toBe(341);
  });

  it('trains SETR-PUP on the tuned backbone, scores validation mIoU, records it, and reports it', async () => {
    const out = join(directory, 'all');
    const before = tf.memory().numTensors;
    const { code, stdout, stderr } = await runCli(...runArgs(writeSuite('all', ['linear', 'gated-prompt', 'spt-shallow', 'residual-scale'], 2), out));
    expect(code, stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(JSON.parse(stdout.at(-1)!)).toMatchObject({ suite: 'ade20k', jobs: 4, ran: 4 });
    const records = storedResults(out);
    expect([...records.keys()].sort()).toEqual(['linear', 'gated-prompt', 'spt-shallow', 'residual-scale'].map((method) => `tiny-vit__ade20k__${method}__seed42`).sort());
    for (const [id, record] of records) {
      expect(record.metric.name, id).toBe('mIoU');
      expect(record.metric.value, id).toBeGreaterThanOrEqual(0);
      expect(record.metric.value, id).toBeLessThanOrEqual(1);
      expect(record.protocol, id).toMatchObject({
        epochs: 0,
        iterations: 2,
        batchSize: 2,
        optimizer: 'sgd',
        chosen: { learningRate: 1e-3, weightDecay: 0 },
        finalSplits: { train: 'training', test: 'validation' },
      });
      expect(record.timing.peakBytes, id).toBeGreaterThan(0);
      expect(record.timing.stepSeconds, id).toBeGreaterThan(0);
      expect(existsSync(join(out, 'work', id)), id).toBe(false);
    }
    // The heads train with every method (decode: 3 stages for 8-pixel patches, auxiliary: 2): LayerNorm, stages of [3x3 conv without bias, BatchNorm], 1x1 conv to 150 classes.
    const head = (stages: number) => 2 * 32 + (32 * 8 * 9 + 2 * 8) + (stages - 1) * (8 * 8 * 9 + 2 * 8) + (8 * 150 + 150);
    const heads = head(3) + 2 * head(2);
    const linear = records.get('tiny-vit__ade20k__linear__seed42')!;
    expect(linear.parameters.trainable).toBe(heads);
    expect(linear.parameters.trainableBackbone).toBe(0);
    const gated = records.get('tiny-vit__ade20k__gated-prompt__seed42')!;
    expect(gated.parameters.trainable).toBe(heads + gated.parameters.extra);
    // The methods' diagnostics once, after the last iteration (2 iterations of 2 images from 5: epoch 0 of the data).
    expect(gated.diagnostics.map((entry) => entry.epoch)).toEqual([0]);
    const scale = records.get('tiny-vit__ade20k__residual-scale__seed42')!;
    expect(scale.parameters.extra).toBe(2);
    expect(scale.diagnostics).toEqual([
      {
        epoch: 0,
        methods: {
          'residual-scale': [
            { kind: 'per-block', name: 'mlp-scale', title: expect.any(String), firstBlock: 0, values: [expect.any(Number), expect.any(Number)] },
            { kind: 'scalar', name: 'probe-mean-logit', title: expect.any(String), value: expect.any(Number) },
          ],
        },
      },
    ]);

    const report = await runCli('report', '--out', out);
    expect(report.code, report.stderr.join('\n')).toBe(0);
    const markdown = readFileSync(join(out, 'report', 'report.md'), 'utf8');
    expect(markdown).toMatch(/ADE20K/);
    expect(markdown).toMatch(/mIoU/);
  });

  it('resumes an interrupted run from its checkpoint to exactly the uninterrupted run’s weights and mIoU', async () => {
    const suite = writeSuite('resume', ['gated-prompt'], 4);
    const full = join(directory, 'resume-full');
    const fullRun = await runCli(...runArgs(suite, full));
    expect(fullRun.code, fullRun.stderr.join('\n')).toBe(0);

    const out = join(directory, 'resume');
    const controller = new AbortController();
    const stopAfterTwo = (progress: JobProgress) => {
      if (progress.event.type === 'iteration' && progress.event.iteration === 1) controller.abort();
    };
    const id = 'tiny-vit__ade20k__gated-prompt__seed42';
    await expect(runSuite(runArgs(suite, out).slice(1), quiet, { signal: controller.signal, onProgress: stopAfterTwo })).rejects.toThrow(
      `interrupted during job ${id}; run the same command again to resume it`,
    );
    const checkpoint = await readTrainingCheckpoint(join(out, 'work', id, 'final'));
    expect(checkpoint?.record.iteration).toBe(2);
    expect([...checkpoint!.tensors.keys()].some((key) => key.startsWith('heads/decode_head.') && key.endsWith('running_var'))).toBe(true);
    expect([...checkpoint!.tensors.keys()].some((key) => key.startsWith('optimizer.head/momentum_buffer/'))).toBe(true);

    const events: JobProgress[] = [];
    const resumed = await runSuite(runArgs(suite, out).slice(1), quiet, { onProgress: (progress) => events.push(progress) });
    expect(resumed).toBeUndefined();
    expect(events.map((event) => (event.event.type === 'iteration' ? event.event.iteration : -1))).toEqual([2, 3]);
    const record = storedResults(out).get(id)!;
    const reference = storedResults(full).get(id)!;
    expect(record.metric.value).toBe(reference.metric.value);
    expect(record.diagnostics).toEqual(reference.diagnostics);
  });

  it('ends bad ADE20K input with one line', async () => {
    const suite = writeSuite('bad', ['linear'], 1);
    const out = join(directory, 'bad');
    const wasm = await runCli(...runArgs(suite, out).slice(0, -2), '--backend', 'wasm');
    expect(wasm.code, wasm.stderr.join('\n')).toBe(2);
    expect(wasm.stderr.join('\n')).toMatch(/--backend wasm cannot train SETR-PUP: tfjs-backend-wasm has no Conv2DBackpropFilter/);
    const missing = await runCli('run', '--suite', suite, '--backbone', tinyVit('config.json'), '--data', join(directory, 'nowhere'), '--out', out, '--backend', 'cpu');
    expect(missing.code).toBe(1);
    expect(missing.stderr.join('\n')).toMatch(/nowhere\/ADEChallengeData2016\/images\/training: missing folder \(expected ADEChallengeData2016/);
    for (const flag of [['--micro-batch', '2'], ['--recompute']]) {
      const refused = await runCli(...runArgs(suite, out), ...flag);
      expect(refused.code, refused.stderr.join('\n')).toBe(2);
      expect(refused.stderr.at(-1)).toBe(`visual-peft-bench: ${flag[0]} is not available for the ade20k suite: its segmentation trainer runs whole batches (BatchNorm statistics of the batch)`);
    }
    const vqt = await runCli('run', '--suite', 'ade20k', '--methods', 'vqt', '--backbone', tinyVit('config.json'), '--data', data, '--out', out);
    expect(vqt.code).toBe(2);
    expect(vqt.stderr.join('\n')).toMatch(/method vqt cannot run on ade20k/);
    expect(existsSync(join(out, 'results'))).toBe(false);
  });
});

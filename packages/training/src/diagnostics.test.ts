import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, Diagnostic, DiagnosticProbe, ImageBatch, TuningMethod } from '@visual-peft/vit-core';
import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { useDisposables } from './__fixtures__/disposables';
import { useTemporaryDirectory } from './__fixtures__/temporary-directory';
import { imageTask, promptSetup } from './__fixtures__/tiny-task';
import type { FitOptions, TrainResult } from './trainer';
// The Node entry: there `outputDir` is a folder (the browser entry needs a store).
import { Trainer } from './node';
import { INITIAL_DIAGNOSTICS_EPOCH } from './diagnostics';
import type { TrainerConfigInput } from './trainer-config';

const task = imageTask();
const CONFIG: TrainerConfigInput = {
  epochs: 3,
  stepsPerEpoch: task.stepsPerEpoch,
  optimizer: { kind: 'adamw', learningRate: 0.01 },
  schedule: { kind: 'constant' },
  seed: 3,
};
const directory = useTemporaryDirectory();
const disposables = useDisposables();

/** The first batch of a source's epoch 0: the fixed probe images. */
async function firstBatch(source: BatchSource): Promise<ImageBatch> {
  const { value } = await source(0)[Symbol.asyncIterator]().next();
  return value as ImageBatch;
}
const probeBatch = await firstBatch(task.source);

/**
 * Gives the fixture's prompt method a `diagnostics` that reads its prompts, the model's logits on
 * the probe images and the labelled source, and leaves one tensor behind (the trainer must free it).
 */
function withDiagnostics(method: TuningMethod, probes: DiagnosticProbe[]): TuningMethod {
  const prompts = method.trainableVariables()[0]!;
  method.diagnostics = async (probe) => {
    probes.push(probe);
    let labelled = 0;
    for await (const batch of probe.source!(0)) labelled += batch.labels.length;
    tf.square(probe.images); // left behind on purpose
    const logits = tf.tidy(() => Array.from(tf.mean(probe.model.forward(probe.images), 1).dataSync()));
    const records: Diagnostic[] = [
      { kind: 'scalar', name: 'prompt-norm', title: 'L2 norm of the prompts (test)', value: tf.tidy(() => tf.norm(prompts).dataSync()[0]!) },
      { kind: 'per-block', name: 'mean-logit', title: 'mean logit of each probe image (test)', firstBlock: 1, values: Float32Array.from(logits) as unknown as number[] },
      { kind: 'channels', name: 'labelled', title: 'labelled images seen (test)', selected: [[labelled]], scores: null },
    ];
    return records;
  };
  return method;
}

async function fitWith(
  options: Partial<FitOptions> = {},
  images: ImageBatch | tf.Tensor4D = probeBatch,
): Promise<{ result: TrainResult; probes: DiagnosticProbe[]; counts: number[]; initialNorm: number }> {
  const setup = promptSetup();
  disposables.push(setup.model, setup.method);
  const initialNorm = tf.tidy(() => tf.norm(setup.method.trainableVariables()[0]!).dataSync()[0]!);
  const probes: DiagnosticProbe[] = [];
  const trainer = new Trainer(setup.model, [withDiagnostics(setup.method, probes)], CONFIG, { diagnostics: { images, source: task.source } });
  disposables.push(trainer);
  const counts: number[] = [];
  const result = await trainer.fit({
    train: task.source,
    ...options,
    onProgress: (event) => {
      if (event.type === 'epoch') counts.push(tf.memory().numTensors);
      return options.onProgress?.(event);
    },
  });
  return { result, probes, counts, initialNorm };
}

describe('Trainer diagnostics', () => {
  it('asks every attached method before the first epoch and after each with the fixed probe, and records its checked records', async () => {
    const { result, probes, counts, initialNorm } = await fitWith();
    expect(probes.map((probe) => probe.epoch)).toEqual([INITIAL_DIAGNOSTICS_EPOCH, 0, 1, 2]);
    expect(INITIAL_DIAGNOSTICS_EPOCH).toBe(-1);
    // Before the first step: the initial prompts' norm, with the same records as every epoch's.
    const initial = result.initialDiagnostics!['test-prompt']!;
    expect(initial.map((record) => `${record.kind}:${record.name}`)).toEqual(['scalar:prompt-norm', 'per-block:mean-logit', 'channels:labelled']);
    expect(initial[0]).toMatchObject({ kind: 'scalar', value: initialNorm });
    for (const probe of probes) expect(probe.images.shape).toEqual([...probeBatch.shape]);
    const entries = result.history.map((epoch) => epoch.diagnostics!['test-prompt']!);
    // `channels` records stay in the latest epoch only.
    expect(entries.map((records) => records.map((record) => `${record.kind}:${record.name}`))).toEqual([
      ...Array(2).fill(['scalar:prompt-norm', 'per-block:mean-logit']),
      ['scalar:prompt-norm', 'per-block:mean-logit', 'channels:labelled'],
    ]);
    // Typed arrays come back as plain arrays (the record is JSON); the prompts change as they train.
    const perBlock = entries[0]![1] as Extract<Diagnostic, { kind: 'per-block' }>;
    expect(Array.isArray(perBlock.values)).toBe(true);
    expect(perBlock).toMatchObject({ firstBlock: 1, values: expect.any(Array) });
    expect(perBlock.values).toHaveLength(task.batchSize);
    const norms = entries.map((records) => (records[0] as Extract<Diagnostic, { kind: 'scalar' }>).value);
    expect(new Set([initialNorm, ...norms]).size).toBe(4);
    expect(entries[2]![2]).toEqual({ kind: 'channels', name: 'labelled', title: 'labelled images seen (test)', selected: [[20]], scores: null });
    // The tensor each call leaves behind is freed: every epoch ends with the same count.
    expect(new Set(counts).size).toBe(1);
  });

  it('keeps them through a checkpoint: a resumed run’s history and initial records equal an uninterrupted one’s, not collected again', async () => {
    const straight = await fitWith({ outputDir: join(directory.path, 'straight') });
    const outputDir = join(directory.path, 'resumed');
    const stop = new AbortController();
    const first = await fitWith({ outputDir, signal: stop.signal, onProgress: (event) => event.type === 'epoch' && event.epoch === 0 && stop.abort() });
    expect(first.result).toMatchObject({ status: 'stopped', epochsCompleted: 1 });
    const rest = await fitWith({ outputDir });
    expect(rest.result.resumedFrom).toMatchObject({ epoch: 1 });
    expect(first.probes.map((probe) => probe.epoch)).toEqual([-1, 0]);
    expect(rest.probes.map((probe) => probe.epoch)).toEqual([1, 2]);
    expect(rest.result.history).toEqual(straight.result.history);
    expect(rest.result.initialDiagnostics).toEqual(straight.result.initialDiagnostics);
    expect(rest.result.initialDiagnostics).not.toBeNull();
  });

  it('takes the images as a tensor the caller keeps', async () => {
    const images = tf.tensor4d(probeBatch.images, [...probeBatch.shape]);
    disposables.push(images);
    const { probes } = await fitWith({}, images);
    expect(probes.every((probe) => probe.images === images)).toBe(true);
    expect(images.isDisposed).toBe(false);
  });

  it('leaves the history as it was without the option, and methods without diagnostics out', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const plain = new Trainer(setup.model, [setup.method], { ...CONFIG, epochs: 1 });
    disposables.push(plain);
    const plainResult = await plain.fit({ train: task.source });
    expect(plainResult.history[0]).not.toHaveProperty('diagnostics');
    expect(plainResult.initialDiagnostics).toBeNull();
    const other = promptSetup();
    disposables.push(other.model, other.method);
    const silent = new Trainer(other.model, [other.method], { ...CONFIG, epochs: 1 }, { diagnostics: { images: probeBatch } });
    disposables.push(silent);
    const silentResult = await silent.fit({ train: task.source });
    expect(silentResult.history[0]!.diagnostics).toEqual({});
    expect(silentResult.initialDiagnostics).toEqual({});
  });

  it('refuses probe images of another shape, unknown options and records that break the contract', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const small: ImageBatch = { images: new Float32Array(2 * 3 * 16 * 16), labels: new Int32Array(2), shape: [2, 3, 16, 16] };
    expect(() => new Trainer(setup.model, [setup.method], CONFIG, { diagnostics: { images: small } })).toThrow(ShapeError);
    expect(() => new Trainer(setup.model, [setup.method], CONFIG, { diagnostics: { images: probeBatch, every: 2 } as never })).toThrow(
      /options\.diagnostics\.every is not an option \(options: images, source\)/,
    );
    const bad = async (record: unknown, pattern: RegExp) => {
      setup.method.diagnostics = () => [record as Diagnostic];
      const trainer = new Trainer(setup.model, [setup.method], { ...CONFIG, epochs: 1 }, { diagnostics: { images: probeBatch } });
      disposables.push(trainer);
      const error = await trainer.fit({ train: task.source }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe('test-prompt diagnostics');
      expect((error as Error).message).toMatch(pattern);
    };
    await bad({ kind: 'histogram', name: 'h', title: 't' }, /kind must be one of scalar, per-block, channels, got "histogram"/);
    await bad({ kind: 'scalar', name: 'Gate Ratio', title: 't', value: 1 }, /name must be kebab-case, got "Gate Ratio"/);
    await bad({ kind: 'scalar', name: 'nmi', title: 't', value: Number.NaN }, /value of nmi must be a finite number/);
    await bad({ kind: 'per-block', name: 'gates', title: 't', firstBlock: 0, values: [1, Number.POSITIVE_INFINITY] }, /values of gates must hold finite numbers/);
    await bad({ kind: 'channels', name: 'sct', title: 't', selected: [[1.5]], scores: null }, /selected of sct must hold channel indices >= 0, got 1.5/);
  });
});

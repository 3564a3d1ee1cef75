import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, ImageBatch, VisionTransformer } from '@visual-peft/vit-core';
import { ShapeError, applyTrainablePolicy } from '@visual-peft/vit-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { describe, expect, it } from 'vitest';
import { expectConfigError } from './__fixtures__/expect-error';
import { useDisposables } from './__fixtures__/disposables';
import { useTemporaryDirectory } from './__fixtures__/temporary-directory';
import { PROMPT_DEFINITION, imageTask, promptSetup, snapshot, withNaNBatch } from './__fixtures__/tiny-task';
import { DivergenceError } from './errors';
import { evaluate } from './evaluate';
import { softmaxCrossEntropy } from './loss';
import type { EpochEvent, FitOptions, ProgressEvent, StepEvent, TrainResult } from './trainer';
// The Node entry: there `outputDir` is a folder (the browser entry needs a store).
import { Trainer } from './node';
import type { TrainerConfigInput } from './trainer-config';
import { CHECKPOINT_FILE } from './trainer-store';
import type { TrainingForward } from './training-forward';
import { loadTunedWeights } from './tuned-weights-files';

const task = imageTask();
const CONFIG: TrainerConfigInput = {
  epochs: 4,
  stepsPerEpoch: task.stepsPerEpoch,
  optimizer: { kind: 'adamw', learningRate: 0.01, weightDecay: 0.05 },
  schedule: { kind: 'cosine', unit: 'step', warmupEpochs: 1, warmupStartLr: 1e-4, minLr: 1e-5 },
  head: { weightDecay: 0.5 },
  ema: { decay: 0.9, evaluate: false },
  seed: 3,
};

const directory = useTemporaryDirectory();
const disposables = useDisposables();

interface Run {
  readonly trainer: Trainer;
  readonly setup: ReturnType<typeof promptSetup>;
  readonly events: ProgressEvent[];
  readonly result: TrainResult;
}

/** Builds a fresh model, method and trainer (disposed after the test) and fits it. */
async function run(config: TrainerConfigInput, options: Partial<FitOptions> = {}, inputs?: Record<string, unknown>): Promise<Run> {
  const setup = promptSetup();
  disposables.push(setup.model, setup.method);
  const trainer = new Trainer(setup.model, [setup.method], config, inputs === undefined ? {} : { inputs });
  disposables.push(trainer);
  const events: ProgressEvent[] = [];
  const result = await trainer.fit({
    train: task.source,
    ...options,
    onProgress: (event) => {
      events.push(event);
      options.onProgress?.(event);
    },
  });
  return { trainer, setup, events, result };
}

function stepEvents(events: readonly ProgressEvent[]): StepEvent[] {
  return events.filter((event): event is StepEvent => event.type === 'step');
}

function epochEvents(events: readonly ProgressEvent[]): EpochEvent[] {
  return events.filter((event): event is EpochEvent => event.type === 'epoch');
}

/** The first batch of epoch 0. */
async function batchZero(): Promise<ImageBatch> {
  const { value } = await task.source(0)[Symbol.asyncIterator]().next();
  return value as ImageBatch;
}

/** Weights, optimiser state and EMA of a run, for bit-for-bit comparisons. */
function fullState({ trainer, setup }: Run): Map<string, unknown> {
  const state = new Map<string, unknown>(snapshot(setup.model, setup.method));
  for (const [key, host] of trainer.optimizer.state().tensors) state.set(`optimizer/${key}`, host.data);
  state.set('optimizer steps', trainer.optimizer.state().steps);
  for (const [key, host] of trainer.ema!.state()) state.set(`ema/${key}`, host.data);
  return state;
}

describe('Trainer', () => {
  it('trains only the declared variables: the loss falls, the frozen backbone stays bit for bit', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const before = snapshot(setup.model, setup.method);
    const initial = await evaluate(setup.model, task.source);
    const trainer = new Trainer(setup.model, [setup.method], { ...CONFIG, optimizer: { kind: 'adamw', learningRate: 0.03 }, epochs: 5, ema: null });
    disposables.push(trainer);
    const result = await trainer.fit({ train: task.source });
    const final = await evaluate(setup.model, task.source);
    const after = snapshot(setup.model, setup.method);
    const trainable = new Set(['head.weight', 'head.bias', 'method/prompts', 'method/scales.0', 'method/scales.1']);
    for (const [key, values] of before) {
      if (trainable.has(key)) expect(after.get(key), key).not.toEqual(values);
      else expect(after.get(key), key).toEqual(values);
    }
    expect(final.loss, `loss ${initial.loss} -> ${final.loss}`).toBeLessThan(initial.loss * 0.5);
    expect(final.top1).toBeGreaterThan(initial.top1);
    expect(result.status).toBe('completed');
    expect(result.steps).toBe(5 * task.stepsPerEpoch);
  });

  it('is deterministic for a seed: two runs agree bit for bit, another seed differs', async () => {
    const short = { ...CONFIG, epochs: 2 };
    const first = await run(short);
    const second = await run(short);
    const other = await run({ ...short, seed: 4 });
    expect(fullState(second)).toEqual(fullState(first));
    expect(snapshot(other.setup.model, other.setup.method).get('method/prompts')).not.toEqual(
      snapshot(first.setup.model, first.setup.method).get('method/prompts'),
    );
    expect(stepEvents(second.events).map((event) => event.loss)).toEqual(stepEvents(first.events).map((event) => event.loss));
  });

  it('resumes from the last checkpoint and ends bit for bit where an uninterrupted run ends', async () => {
    const straight = await run(CONFIG, { outputDir: join(directory.path, 'straight'), validation: task.source });
    const outputDir = join(directory.path, 'interrupted');
    // Killed after two epochs, at an epoch's end (its checkpoint is written)...
    const stopAfterEpoch = new AbortController();
    const first = await run(CONFIG, {
      outputDir,
      validation: task.source,
      signal: stopAfterEpoch.signal,
      onProgress: (event) => event.type === 'epoch' && event.epoch === 1 && stopAfterEpoch.abort(),
    });
    expect(first.result).toMatchObject({ status: 'stopped', epochsCompleted: 2, resumedFrom: null });
    // ...then in the middle of the third epoch: the stop checkpoints that step, and the rerun goes on after it.
    const stopMidEpoch = new AbortController();
    const second = await run(CONFIG, {
      outputDir,
      validation: task.source,
      signal: stopMidEpoch.signal,
      onProgress: (event) => event.type === 'step' && event.globalStep === 9 && stopMidEpoch.abort(),
    });
    expect(second.result).toMatchObject({ status: 'stopped', epochsCompleted: 2, steps: 10, resumedFrom: { epoch: 2, step: 8 } });
    expect(JSON.parse(await readFile(join(outputDir, 'checkpoint.json'), 'utf8'))).toMatchObject({ epoch: 2, step: 10, partialEpoch: { step: 2 } });
    const third = await run(CONFIG, { outputDir, validation: task.source });
    expect(third.result).toMatchObject({ status: 'completed', epochsCompleted: 4, resumedFrom: { epoch: 2, step: 10 } });
    expect(stepEvents(third.events)[0]!.globalStep).toBe(10);
    expect(fullState(third)).toEqual(fullState(straight));
    expect(third.result.history).toEqual(straight.result.history);
    expect(third.result.best).toEqual(straight.result.best);
  });

  it('a stop after an epoch’s last step, or after an epoch checkpointEvery skips, checkpoints it and resumes bit for bit', async () => {
    const every2 = { ...CONFIG, checkpointEvery: 2 };
    const straight = await run(every2, { outputDir: join(directory.path, 'every2-straight'), validation: task.source });
    const outputDir = join(directory.path, 'every2');
    // The last step of epoch 0: every step of it is done, its evaluation and summary are not.
    const atLastStep = new AbortController();
    const first = await run(every2, {
      outputDir,
      validation: task.source,
      signal: atLastStep.signal,
      onProgress: (event) => event.type === 'step' && event.globalStep === task.stepsPerEpoch - 1 && atLastStep.abort(),
    });
    expect(first.result).toMatchObject({ status: 'stopped', epochsCompleted: 0, steps: task.stepsPerEpoch });
    expect(JSON.parse(await readFile(join(outputDir, CHECKPOINT_FILE), 'utf8'))).toMatchObject({ epoch: 0, step: task.stepsPerEpoch, partialEpoch: { step: task.stepsPerEpoch } });
    // Then the resumed epoch 0 is summarised, epochs 1 and 2 run, and only epoch 1 is checkpointed (checkpointEvery 2): a stop after epoch 2 checkpoints it.
    const afterEpoch = new AbortController();
    const second = await run(every2, {
      outputDir,
      validation: task.source,
      signal: afterEpoch.signal,
      onProgress: (event) => event.type === 'epoch' && event.epoch === 2 && afterEpoch.abort(),
    });
    expect(stepEvents(second.events)[0]!.globalStep).toBe(task.stepsPerEpoch);
    expect(epochEvents(second.events).map((event) => event.checkpoint === null)).toEqual([true, false, true]);
    expect(JSON.parse(await readFile(join(outputDir, CHECKPOINT_FILE), 'utf8'))).toMatchObject({ epoch: 3, step: 3 * task.stepsPerEpoch });
    expect(JSON.parse(await readFile(join(outputDir, CHECKPOINT_FILE), 'utf8')).partialEpoch).toBeUndefined();
    const third = await run(every2, { outputDir, validation: task.source });
    expect(third.result).toMatchObject({ status: 'completed', epochsCompleted: 4, resumedFrom: { epoch: 3, step: 3 * task.stepsPerEpoch } });
    expect(fullState(third)).toEqual(fullState(straight));
    expect(third.result.history).toEqual(straight.result.history);
  });

  it('returns at once when started again on a finished run', async () => {
    const outputDir = join(directory.path, 'done');
    const finished = await run({ ...CONFIG, epochs: 1 }, { outputDir });
    const again = await run({ ...CONFIG, epochs: 1 }, { outputDir });
    expect(again.events).toEqual([]);
    expect(again.result).toMatchObject({ status: 'completed', epochsCompleted: 1, resumedFrom: { epoch: 1, step: 4 } });
    expect(fullState(again)).toEqual(fullState(finished));
  });

  it('refuses to resume a run with another config, naming what differs', async () => {
    const outputDir = join(directory.path, 'run');
    await run({ ...CONFIG, epochs: 1 }, { outputDir });
    const changed = { ...CONFIG, epochs: 1, optimizer: { ...CONFIG.optimizer, learningRate: 0.02 } };
    const error = await run(changed, { outputDir }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'ConfigError', field: 'outputDir' });
    expect((error as Error).message).toContain('config.optimizer.learningRate: 0.01 in the checkpoint, 0.02 now');
  });

  it('refuses to resume a run whose inputs changed under the same names; a run without inputs keeps its fingerprint', async () => {
    const outputDir = join(directory.path, 'inputs');
    await run({ ...CONFIG, epochs: 1 }, { outputDir }, { weights: 'aaa', data: { files: 2 } });
    expect((await run({ ...CONFIG, epochs: 1 }, { outputDir }, { weights: 'aaa', data: { files: 2 } })).result.resumedFrom).toMatchObject({ epoch: 1 });
    const swapped = await run({ ...CONFIG, epochs: 1 }, { outputDir }, { weights: 'bbb', data: { files: 2 } }).catch((caught: unknown) => caught);
    expect(swapped).toMatchObject({ name: 'ConfigError', field: 'outputDir' });
    expect((swapped as Error).message).toContain('inputs.weights: "aaa" in the checkpoint, "bbb" now');
    const plain = join(directory.path, 'no-inputs');
    await run({ ...CONFIG, epochs: 1 }, { outputDir: plain });
    const checkpoint = JSON.parse(await readFile(join(plain, CHECKPOINT_FILE), 'utf8'));
    expect(Object.keys(checkpoint.fingerprint).sort()).toEqual(['backbone', 'config', 'methods', 'parameters']);
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    expectConfigError(() => new Trainer(setup.model, [setup.method], CONFIG, { inputs: 'x' as unknown as Record<string, unknown> }), 'inputs');
  });

  it('stops on a NaN loss with an error naming the step, without applying it, leaving the last checkpoint intact', async () => {
    const outputDir = join(directory.path, 'nan');
    let checkpointText = '';
    let files: string[] = [];
    let beforeStep: Map<string, Float32Array> | null = null;
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const trainer = new Trainer(setup.model, [setup.method], CONFIG);
    disposables.push(trainer);
    const failure = await trainer
      .fit({
        train: withNaNBatch(task.source, { epoch: 1, step: 2 }),
        outputDir,
        onProgress: async (event) => {
          if (event.type === 'epoch') {
            checkpointText = await readFile(join(outputDir, CHECKPOINT_FILE), 'utf8');
            files = await readdir(outputDir);
          }
          if (event.type === 'step' && event.globalStep === 5) beforeStep = snapshot(setup.model, setup.method);
        },
      })
      .catch((caught: unknown) => caught);
    expect(failure).toBeInstanceOf(DivergenceError);
    expect(failure).toMatchObject({ quantity: 'loss', epoch: 1, step: 2, globalStep: 6 });
    expect((failure as Error).message).toMatch(/^training diverged: the loss is NaN at epoch 1, step 2 \(global step 6\)/);
    expect(snapshot(setup.model, setup.method)).toEqual(beforeStep);
    expect(await readFile(join(outputDir, CHECKPOINT_FILE), 'utf8')).toBe(checkpointText);
    expect(await readdir(outputDir)).toEqual(files);
    expect(JSON.parse(checkpointText)).toMatchObject({ epoch: 1, step: 4 });
    const resumed = await run(CONFIG, { outputDir });
    expect(resumed.result).toMatchObject({ status: 'completed', resumedFrom: { epoch: 1, step: 4 } });
  });

  it('stops when the gradients are not finite although the loss is', async () => {
    const model = tinyModel();
    disposables.push(model);
    applyTrainablePolicy(model, 'linear');
    const bias = model.parameter('head.bias').variable;
    // sqrt(b - b) is 0 in value, but its gradient is (1 - 1) * infinity: NaN.
    const forward: TrainingForward = { logits: (images) => tf.add(model.forward(images), tf.sqrt(tf.sub(bias, bias))) };
    const trainer = new Trainer(model, [], CONFIG, { forward });
    disposables.push(trainer);
    const before = Array.from(bias.dataSync());
    await expect(trainer.fit({ train: task.source })).rejects.toMatchObject({ name: 'DivergenceError', quantity: 'gradient norm', epoch: 0, step: 0, globalStep: 0 });
    expect(Array.from(bias.dataSync())).toEqual(before);
  });

  it('runs a linear probe’s backbone off the tape: the same weights as the whole model on it, with less memory', async () => {
    const config: TrainerConfigInput = { ...CONFIG, epochs: 2, ema: null };
    const probe = async (forward: ((model: VisionTransformer) => TrainingForward) | undefined) => {
      const model = tinyModel();
      disposables.push(model);
      applyTrainablePolicy(model, 'linear');
      const trainer = new Trainer(model, [], config, forward === undefined ? {} : { forward: forward(model) });
      disposables.push(trainer);
      const { peakBytes } = await tf.profile(async () => {
        await trainer.fit({ train: task.source });
      });
      return { peakBytes, head: ['head.weight', 'head.bias'].map((key) => Array.from(model.parameter(key).variable.dataSync())) };
    };
    const offTape = await probe(undefined);
    // Every activation of the backbone on the tape: what the default forward did before.
    const onTape = await probe((model) => ({ logits: (images, context) => model.forward(images, { training: context.training, seed: context.seed }) }));
    expect(offTape.head).toEqual(onTape.head);
    expect(offTape.peakBytes).toBeLessThan(onTape.peakBytes);
  });

  it('leaks no tensor across whole epochs, evaluation included, and frees its state on dispose', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const beforeTrainer = tf.memory().numTensors;
    const trainer = new Trainer(setup.model, [setup.method], { ...CONFIG, epochs: 3, clipGradNorm: 1, ema: { decay: 0.9 } });
    const counts: number[] = [];
    await trainer.fit({ train: task.source, validation: task.source, onProgress: (event) => event.type === 'epoch' && counts.push(tf.memory().numTensors) });
    expect(counts.length).toBe(3);
    // The optimiser's slots exist from the first step on; every epoch ends with the same count.
    expect(new Set(counts).size).toBe(1);
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(beforeTrainer);
  });

  it('reports progress: every step with its learning rates, throughput and ETA, and every epoch', async () => {
    let clock = 0;
    const now = () => {
      clock += 1000;
      return clock;
    };
    const { events, trainer } = await run({ ...CONFIG, epochs: 2 }, { now, validation: task.source });
    const steps = stepEvents(events);
    expect(steps.map((event) => [event.epoch, event.step, event.globalStep])).toEqual(
      Array.from({ length: 8 }, (_, index) => [Math.floor(index / 4), index % 4, index]),
    );
    steps.forEach((event, index) => {
      const rates = trainer.learningRates(index);
      expect(event.learningRates).toEqual({ decay: rates[0], 'no-decay': rates[1], head: rates[2], 'head-no-decay': rates[3] });
      expect(event.learningRate).toBe(rates[0]);
      expect(event).toMatchObject({ epochs: 2, stepsPerEpoch: 4, totalSteps: 8 });
      // The clock reads once at the start and once per step, one second apart.
      expect(event.imagesPerSecond).toBeCloseTo(task.batchSize, 12);
      expect(event.etaSeconds).toBeCloseTo(8 - (index + 1), 12);
      expect(Number.isFinite(event.loss) && event.gradientNorm > 0).toBe(true);
    });
    const epochs = epochEvents(events);
    expect(epochs.map((event) => [event.epoch, event.improved || event.best !== null, event.checkpoint])).toEqual([
      [0, true, null],
      [1, true, null],
    ]);
    expect(epochs[0]!.trainLoss).toBeCloseTo(steps.slice(0, 4).reduce((sum, event) => sum + event.loss, 0) / 4, 6);
    expect(epochs[1]!.evaluation!.count).toBe(20);
  });

  it('tracks the best epoch, saves its tuned weights, and they load into a fresh backbone', async () => {
    const outputDir = join(directory.path, 'best');
    const probe = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 9) as tf.Tensor4D;
    disposables.push(probe);
    const logitsOf = (model: VisionTransformer) => tf.tidy(() => model.forward(probe).dataSync() as Float32Array);
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const trainer = new Trainer(setup.model, [setup.method], { ...CONFIG, bestMetric: 'loss', ema: null });
    disposables.push(trainer);
    let bestLogits: Float32Array | null = null;
    const result = await trainer.fit({
      train: task.source,
      validation: task.source,
      outputDir,
      onProgress: (event) => {
        if (event.type === 'epoch' && event.improved) bestLogits = logitsOf(setup.model);
      },
    });
    const losses = result.history.map((epoch) => epoch.evaluation!.loss);
    expect(result.best!.epoch).toBe(losses.indexOf(Math.min(...losses)));
    expect(result.best!.value).toBe(Math.min(...losses));
    const fresh = tinyModel({ ...TINY_VIT, dropPathRate: 0.1 });
    disposables.push(fresh);
    const methods = await loadTunedWeights(join(outputDir, 'best.safetensors'), fresh, [PROMPT_DEFINITION]);
    disposables.push(...methods);
    expect(logitsOf(fresh)).toEqual(bestLogits);
  });

  it('evaluates the averaged weights when asked, and puts the trained ones back', async () => {
    const { trainer, setup } = await run({ ...CONFIG, epochs: 1, ema: { decay: 0.5, evaluate: true } });
    const trained = snapshot(setup.model, setup.method);
    const averaged = await trainer.evaluate(task.source);
    expect(averaged).toEqual(await trainer.withEmaWeights(() => evaluate(setup.model, task.source)));
    expect(averaged.loss).not.toBe((await evaluate(setup.model, task.source)).loss);
    expect(snapshot(setup.model, setup.method)).toEqual(trained);
  });

  it('scales every group by batch / 256 and gives the head its own rate and decay', () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const trainer = new Trainer(setup.model, [setup.method], {
      ...CONFIG,
      optimizer: { kind: 'sgd', learningRate: 0.1, weightDecay: 1e-3 },
      head: { learningRate: 0.2, weightDecay: 0.5 },
      batchScaling: { batchSize: 128 },
    });
    disposables.push(trainer);
    expect(trainer.optimizer.groups.map((group) => [group.name, group.learningRate, group.weightDecay])).toEqual([
      ['decay', 0.05, 1e-3],
      ['no-decay', 0.05, 0],
      ['head', 0.1, 0.5],
      ['head-no-decay', 0.1, 0],
    ]);
  });

  it('clips the update to the global gradient norm', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const before = snapshot(setup.model, setup.method);
    const oneBatch: BatchSource = async function* (epoch) {
      for await (const batch of task.source(epoch)) {
        yield batch;
        return;
      }
    };
    const trainer = new Trainer(setup.model, [setup.method], {
      epochs: 1,
      stepsPerEpoch: 1,
      optimizer: { kind: 'sgd', learningRate: 1, momentum: 0 },
      schedule: { kind: 'constant' },
      clipGradNorm: 1e-3,
    });
    disposables.push(trainer);
    const events: ProgressEvent[] = [];
    await trainer.fit({ train: oneBatch, onProgress: (event) => events.push(event) });
    const after = snapshot(setup.model, setup.method);
    let squared = 0;
    for (const [key, values] of before) values.forEach((value, index) => (squared += (after.get(key)![index]! - value) ** 2));
    expect(stepEvents(events)[0]!.gradientNorm).toBeGreaterThan(0.01);
    expect(Math.sqrt(squared)).toBeCloseTo(1e-3, 6);
  });

  it('runs a method’s own forward: prepare off the tape, logits and penalty on it', async () => {
    const model = tinyModel();
    disposables.push(model);
    applyTrainablePolicy(model, 'linear');
    const contexts: unknown[] = [];
    const penaltyWeight = 0.01;
    const headWeight = model.parameter('head.weight').variable;
    const forward: TrainingForward<tf.Tensor3D> = {
      prepare: (images, context) => {
        contexts.push({ training: context.training, seeded: context.seed !== undefined });
        return model.forwardFeatures(images);
      },
      logits: (_, __, features) => model.forwardHead(features!),
      penalty: () => tf.mul(tf.sum(tf.square(headWeight)), penaltyWeight) as tf.Scalar,
    };
    const firstBatch = await batchZero();
    const expectedLoss = tf.tidy(() => {
      const images = tf.tensor4d(firstBatch.images, [...firstBatch.shape]);
      const ce = softmaxCrossEntropy(model.forward(images), tf.tensor1d(firstBatch.labels, 'int32'));
      return tf.add(ce, forward.penalty!({ training: true, seed: 0, epoch: 0, globalStep: 0, imageOffset: 0, recompute: false })).dataSync()[0]!;
    });
    const trainer = new Trainer(model, [], { ...CONFIG, epochs: 2, ema: null }, { forward });
    disposables.push(trainer);
    const events: ProgressEvent[] = [];
    const result = await trainer.fit({ train: task.source, validation: task.source, onProgress: (event) => events.push(event) });
    expect(stepEvents(events)[0]!.loss).toBeCloseTo(expectedLoss, 5);
    // Per epoch: four training steps, then four evaluation batches.
    const training = { training: true, seeded: true };
    const evaluation = { training: false, seeded: false };
    expect(contexts).toEqual([...Array(4).fill(training), ...Array(4).fill(evaluation), ...Array(4).fill(training), ...Array(4).fill(evaluation)]);
    expect(result.history[1]!.trainLoss).toBeLessThan(result.history[0]!.trainLoss);
  });

  it('tells the training forward to recompute when asked, and evaluation never', async () => {
    const model = tinyModel();
    disposables.push(model);
    applyTrainablePolicy(model, 'linear');
    const seen: Array<[boolean, boolean]> = [];
    const forward: TrainingForward = {
      logits: (images, context) => {
        seen.push([context.training, context.recompute]);
        return model.forward(images, { training: context.training, seed: context.seed });
      },
    };
    const trainer = new Trainer(model, [], { ...CONFIG, epochs: 1, ema: null }, { forward, recompute: true });
    disposables.push(trainer);
    await trainer.fit({ train: task.source, validation: task.source });
    // Four training steps, then four evaluation batches.
    expect(seen).toEqual([...Array(4).fill([true, true]), ...Array(4).fill([false, false])]);
  });

  it('keeps what prepare computes off the tape: it reaches logits as a constant', async () => {
    const model = tinyModel();
    disposables.push(model);
    applyTrainablePolicy(model, 'linear');
    const weight = model.parameter('head.weight').variable;
    const bias = model.parameter('head.bias').variable;
    // prepare uses the whole head; logits add the bias once more. On the tape only that addition is seen.
    const forward: TrainingForward<tf.Tensor2D> = {
      prepare: (images) => tf.mul(model.forward(images), 2),
      logits: (_, __, prepared) => tf.add(prepared!, bias),
    };
    const batch = await batchZero();
    const oneBatch: BatchSource = async function* () {
      yield batch;
    };
    const weightBefore = Array.from(weight.dataSync());
    const expectedBias = tf.tidy(() => {
      const logits = tf.add(tf.mul(model.forward(tf.tensor4d(batch.images, [...batch.shape])), 2), bias);
      const gradient = tf.div(tf.sum(tf.sub(tf.softmax(logits), tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 5)), 0), batch.shape[0]);
      return Array.from(tf.sub(bias, gradient).dataSync());
    });
    const trainer = new Trainer(model, [], { epochs: 1, stepsPerEpoch: 1, optimizer: { kind: 'sgd', learningRate: 1, momentum: 0 }, schedule: { kind: 'constant' } }, { forward });
    disposables.push(trainer);
    await trainer.fit({ train: oneBatch });
    expect(Array.from(weight.dataSync())).toEqual(weightBefore);
    Array.from(bias.dataSync()).forEach((value, index) => expect(value).toBeCloseTo(expectedBias[index]!, 5));
  });

  it('refuses a source that yields another number of batches than stepsPerEpoch', async () => {
    const fewer = run({ ...CONFIG, stepsPerEpoch: 5 });
    await expect(fewer).rejects.toMatchObject({ field: 'stepsPerEpoch', message: expect.stringContaining('epoch 0 yielded 4') });
    const more = run({ ...CONFIG, stepsPerEpoch: 3 });
    await expect(more).rejects.toMatchObject({ field: 'stepsPerEpoch', message: expect.stringContaining('yielded more') });
  });

  it('refuses a label beyond the classes without updating anything', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    const before = snapshot(setup.model, setup.method);
    const trainer = new Trainer(setup.model, [setup.method], CONFIG);
    disposables.push(trainer);
    const badLabels: BatchSource = async function* (epoch) {
      for await (const batch of task.source(epoch)) yield { ...batch, labels: batch.labels.map(() => 7) };
    };
    await expect(trainer.fit({ train: badLabels })).rejects.toBeInstanceOf(ShapeError);
    expect(snapshot(setup.model, setup.method)).toEqual(before);
  });

  it('refuses a detached method, an empty trainable set and a second fit', async () => {
    const setup = promptSetup();
    disposables.push(setup.model, setup.method);
    setup.model.detach(setup.method);
    expectConfigError(() => new Trainer(setup.model, [setup.method], CONFIG), 'methods');
    applyTrainablePolicy(setup.model, 'frozen');
    expectConfigError(() => new Trainer(setup.model, [], CONFIG), 'trainable variables');
    setup.model.attach(setup.method);
    const trainer = new Trainer(setup.model, [setup.method], { ...CONFIG, epochs: 1 });
    disposables.push(trainer);
    await trainer.fit({ train: task.source });
    await expect(trainer.fit({ train: task.source })).rejects.toMatchObject({ field: 'fit' });
    await expect(trainer.withEmaWeights(() => 1)).resolves.toBe(1);
    const withoutEma = new Trainer(setup.model, [setup.method], { ...CONFIG, ema: null });
    disposables.push(withoutEma);
    await expect(withoutEma.withEmaWeights(() => 1)).rejects.toMatchObject({ name: 'ConfigError', field: 'ema' });
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';
import { createVpt } from '@visual-peft/prompt-methods';
import { createVisualQueryTuning, queryTrainingForward } from '@visual-peft/query-tuning';
import type { BatchSource, ImageBatch, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { applyTrainablePolicy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { expectConfigError } from './__fixtures__/expect-error';
import { useDisposables } from './__fixtures__/disposables';
import { useTemporaryDirectory } from './__fixtures__/temporary-directory';
import { imageTask } from './__fixtures__/tiny-task';
import type { StepEvent } from './trainer';
// The Node entry: there `outputDir` is a folder (the browser entry needs a store).
import { Trainer } from './node';
import type { TrainerConfigInput } from './trainer-config';
import type { ForwardPassContext, TrainingForward } from './training-forward';

/** One batch of 8 images of 5 classes. */
const task = imageTask({ count: 8, batchSize: 8 });
const LEARNING_RATE = 0.01;
const CONFIG: TrainerConfigInput = {
  epochs: 1,
  stepsPerEpoch: 1,
  optimizer: { kind: 'adamw', learningRate: LEARNING_RATE, weightDecay: 0.05 },
  labelSmoothing: 0.1,
  clipGradNorm: 0.5,
  seed: 7,
};
const TOLERANCE = 1e-5;

const directory = useTemporaryDirectory();
const disposables = useDisposables();

async function theBatch(): Promise<ImageBatch> {
  const { value } = await task.source(0)[Symbol.asyncIterator]().next();
  return value as ImageBatch;
}

/** max |a - b| over max |b|: how far `a` is from `b`, relative to b's scale. */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let difference = 0;
  let scale = 0;
  for (let index = 0; index < b.length; index++) {
    difference = Math.max(difference, Math.abs(a[index]! - b[index]!));
    scale = Math.max(scale, Math.abs(b[index]!));
  }
  return difference / scale;
}

interface Setup {
  readonly model: VisionTransformer;
  readonly methods: readonly TuningMethod[];
  readonly forward?: TrainingForward;
}

/**
 * Two methods with per-image random draws in training: one back-propagates through the whole
 * backbone (every weight trains, deep prompts with dropout, drop path), one keeps the backbone off
 * the tape (VQT's memory path, query dropout, with a penalty that must count once per step).
 */
const CASES: readonly { readonly name: string; build(): Setup }[] = [
  {
    name: 'full fine-tuning with VPT-deep (prompt dropout 0.3, drop path 0.2)',
    build: () => {
      const model = tinyModel({ ...TINY_VIT, dropPathRate: 0.2 });
      applyTrainablePolicy(model, 'full');
      const vpt = createVpt(model, { numPrompts: 2, deep: true, dropout: 0.3 });
      model.attach(vpt);
      return { model, methods: [vpt] };
    },
  },
  {
    name: 'VQT on its memory path (query dropout 0.3) with a penalty',
    build: () => {
      const model = tinyModel();
      applyTrainablePolicy(model, 'frozen');
      const vqt = createVisualQueryTuning(model, { numQueries: [2, 1], dropout: 0.3, numClasses: 5 });
      model.attach(vqt);
      const query = queryTrainingForward(vqt) as unknown as TrainingForward;
      const penalty = () => tf.mul(tf.sum(tf.square(vqt.headVariables().weight)), 0.01) as tf.Scalar;
      return { model, methods: [vqt], forward: { ...query, penalty } };
    },
  },
];

function trainer(setup: Setup, microBatch?: number): Trainer {
  const built = new Trainer(setup.model, setup.methods, CONFIG, {
    ...(setup.forward === undefined ? {} : { forward: setup.forward }),
    ...(microBatch === undefined ? {} : { microBatch }),
  });
  disposables.push(built);
  return built;
}

function build(factory: () => Setup): Setup {
  const setup = factory();
  disposables.push(setup.model, ...setup.methods);
  return setup;
}

/** Every trainable value, by parameter key, on the host. */
function trainedValues(trainer: Trainer): Map<string, Float32Array> {
  return new Map(trainer.parameters.map((parameter) => [parameter.key, Float32Array.from(parameter.variable.dataSync() as Float32Array)]));
}

describe('micro-batches (gradient accumulation)', () => {
  for (const testCase of CASES) {
    it(`${testCase.name}: batch 8 in micro-batches of 3 (3 + 3 + 2) gives the whole batch's loss, gradients and update`, async () => {
      const batch = await theBatch();
      const setup = build(testCase.build);
      const pass = { seed: 12, epoch: 0, globalStep: 0 };
      const whole = trainer(setup).gradients(batch, pass);
      const split = trainer(setup, 3).gradients(batch, pass);
      const other = trainer(setup).gradients(batch, { ...pass, seed: 13 });
      const value = (scalar: tf.Scalar) => scalar.dataSync()[0]!;
      expect(Math.abs(value(split.loss) - value(whole.loss)) / Math.abs(value(whole.loss))).toBeLessThan(TOLERANCE);
      expect([...split.gradients.keys()]).toEqual([...whole.gradients.keys()]);
      for (const [key, gradient] of whole.gradients) {
        expect(relativeDifference(split.gradients.get(key)!.dataSync(), gradient.dataSync()), key).toBeLessThan(TOLERANCE);
      }
      // The draws are live: another step seed changes the gradients well beyond the tolerance.
      const [firstKey, firstGradient] = [...other.gradients][0]!;
      expect(relativeDifference(firstGradient.dataSync(), whole.gradients.get(firstKey)!.dataSync())).toBeGreaterThan(1e-3);
      tf.dispose([whole, split, other].flatMap(({ loss, gradients }) => [loss, ...gradients.values()]));

      // One optimiser step each, from identical weights (AdamW, label smoothing, clipping).
      const oneBatch: BatchSource = async function* () {
        yield batch;
      };
      const results = [];
      for (const microBatch of [undefined, 3]) {
        const fresh = build(testCase.build);
        const stepper = trainer(fresh, microBatch);
        const events: StepEvent[] = [];
        await stepper.fit({ train: oneBatch, onProgress: (event) => event.type === 'step' && events.push(event) });
        results.push({ values: trainedValues(stepper), loss: events[0]!.loss, norm: events[0]!.gradientNorm });
      }
      const [reference, accumulated] = results as [(typeof results)[0], (typeof results)[0]];
      expect(Math.abs(accumulated.loss - reference.loss) / reference.loss).toBeLessThan(TOLERANCE);
      expect(Math.abs(accumulated.norm - reference.norm) / reference.norm).toBeLessThan(TOLERANCE);
      // AdamW's first step moves each weight by lr * g / (|g| + eps): where |g| is near eps, the
      // float32 rounding of the summed passes' gradients (checked above within 1e-5) shows as a
      // fraction of one step's size. Differences beyond 1% of a step are an accumulation error.
      for (const [key, values] of reference.values) {
        const other = accumulated.values.get(key)!;
        const worst = values.reduce((max, value, index) => Math.max(max, Math.abs(other[index]! - value)), 0);
        expect(worst, key).toBeLessThan(1e-2 * LEARNING_RATE);
      }
    });
  }

  it('tells each pass its first image’s place and the step’s one seed, runs prepare per pass, and passes recompute on', async () => {
    const model = tinyModel();
    disposables.push(model);
    applyTrainablePolicy(model, 'linear');
    const seen: { imageOffset: number; images: number; seed: number | undefined; recompute: boolean; stage: string }[] = [];
    const record = (stage: string, images: tf.Tensor4D, context: ForwardPassContext) =>
      seen.push({ stage, imageOffset: context.imageOffset, images: images.shape[0], seed: context.seed, recompute: context.recompute });
    const forward: TrainingForward<tf.Tensor3D> = {
      prepare: (images, context) => {
        record('prepare', images, context);
        return model.forwardFeatures(images);
      },
      logits: (images, context, features) => {
        record('logits', images, context);
        return model.forwardHead(features!);
      },
    };
    const stepper = new Trainer(model, [], CONFIG, { forward, microBatch: 3, recompute: true });
    disposables.push(stepper);
    await stepper.fit({ train: task.source });
    expect(seen.map(({ stage, imageOffset, images }) => [stage, imageOffset, images])).toEqual([
      ['prepare', 0, 3], ['logits', 0, 3], ['prepare', 3, 3], ['logits', 3, 3], ['prepare', 6, 2], ['logits', 6, 2],
    ]);
    expect(new Set(seen.map(({ seed }) => seed)).size).toBe(1);
    expect(seen[0]!.seed).toEqual(expect.any(Number));
    expect(seen.every(({ recompute }) => recompute)).toBe(true);
  });

  it('runs a micro-batch at least as large as the batch as one pass, and refuses one that is no integer >= 1', async () => {
    const model = tinyModel();
    disposables.push(model);
    applyTrainablePolicy(model, 'linear');
    const batch = await theBatch();
    const pass = { seed: 1, epoch: 0, globalStep: 0 };
    const whole = new Trainer(model, [], CONFIG);
    const larger = new Trainer(model, [], CONFIG, { microBatch: 100 });
    disposables.push(whole, larger);
    const [a, b] = [whole.gradients(batch, pass), larger.gradients(batch, pass)];
    expect(b.loss.dataSync()[0]).toBe(a.loss.dataSync()[0]);
    for (const [key, gradient] of a.gradients) expect(Array.from(b.gradients.get(key)!.dataSync())).toEqual(Array.from(gradient.dataSync()));
    tf.dispose([a, b].flatMap(({ loss, gradients }) => [loss, ...gradients.values()]));
    for (const bad of [0, -2, 1.5, '4', Number.NaN]) expectConfigError(() => new Trainer(model, [], CONFIG, { microBatch: bad as number }), 'microBatch');
    expectConfigError(() => new Trainer(model, [], CONFIG, { recompute: 'yes' as unknown as boolean }), 'recompute');
    expectConfigError(() => new Trainer(model, [], CONFIG, { microbatch: 2 } as never), 'options.microbatch');
  });

  it('is no part of the run’s identity: a run checkpointed with one micro-batch resumes with another', async () => {
    const source = imageTask({ count: 8, batchSize: 4 });
    const config = { ...CONFIG, epochs: 2, stepsPerEpoch: source.stepsPerEpoch };
    const outputDir = directory.path;
    const fitWith = async (microBatch: number | undefined, stopAfterFirstEpoch: boolean) => {
      const model = tinyModel();
      disposables.push(model);
      applyTrainablePolicy(model, 'linear');
      const stepper = new Trainer(model, [], config, microBatch === undefined ? {} : { microBatch });
      disposables.push(stepper);
      const stop = new AbortController();
      return stepper.fit({
        train: source.source,
        outputDir,
        signal: stop.signal,
        onProgress: (event) => stopAfterFirstEpoch && event.type === 'epoch' && stop.abort(),
      });
    };
    expect(await fitWith(2, true)).toMatchObject({ status: 'stopped', epochsCompleted: 1 });
    expect(await fitWith(undefined, false)).toMatchObject({ status: 'completed', epochsCompleted: 2, resumedFrom: { epoch: 1, step: 2 } });
  });
});

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ClassificationSplit } from '@visual-peft/datasets';
import { createBatchSource, pipelinePreset } from '@visual-peft/datasets';
import type { HostTensor, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, FormatError, SeededRandom, deriveSeed, leanVariableGrads } from '@visual-peft/vit-core';
import {
  CHECKPOINT_FILE,
  DivergenceError,
  LearningRateSchedule,
  createOptimizer,
  groupParameters,
  readTrainingCheckpoint,
  resolveOptimizerConfig,
  resolveScheduleConfig,
  writeTrainingCheckpoint,
} from '@visual-peft/training';
import { MaskedAutoencoder } from './masked-autoencoder';
import type { PretrainRecipe } from './pretrain-recipe';
import { randomMasking } from './random-masking';

export interface MaeEpoch {
  readonly epoch: number;
  /** Mean reconstruction loss (masked patches) over the epoch's steps. */
  readonly loss: number;
  /** Wall-clock seconds of the epoch. */
  readonly seconds: number;
}

export interface MaePretrainOptions {
  /** Where the resumable checkpoint goes; a checkpoint of the same run there is resumed. */
  readonly checkpointDir: string;
  readonly onEpoch?: (epoch: MaeEpoch, epochs: number) => void;
  /** Aborted: the run stops after its current step with a checkpoint of it (`status: 'stopped'`). */
  readonly signal?: AbortSignal;
}

export interface MaePretrainResult {
  /** 'stopped' when the signal aborted the run. */
  readonly status: 'completed' | 'stopped';
  /** Training steps done, resumed ones included. */
  readonly steps: number;
  /** Every epoch of the run, resumed ones included. */
  readonly history: readonly MaeEpoch[];
  /** The epoch a resumed run picked up at, or null. */
  readonly resumedFrom: number | null;
}

/** Where a stopped run was within its epoch: the steps done, their loss sum and the seconds they took. */
interface PartialEpoch {
  readonly step: number;
  readonly lossSum: number;
  readonly seconds: number;
}

const hostTensor = (variable: tf.Variable): HostTensor => ({ dtype: 'float32', shape: [...variable.shape], data: variable.dataSync() as Float32Array });

/**
 * MAE pretraining of `encoder` on the images of `train` (labels unused): per-sample random
 * masking, reconstruction loss on the masked patches, AdamW with warm-up and cosine per step.
 * A checkpoint (every weight, decoder included, and the optimiser's moments) is written after each
 * epoch, and after the current step when `signal` aborts (with the steps done within the epoch); the
 * masks and batch order are functions of (seed, epoch, step), so a resumed run continues exactly as
 * an uninterrupted one. On return the encoder holds the pretrained weights.
 */
export async function pretrainMae(encoder: VisionTransformer, recipe: PretrainRecipe, train: ClassificationSplit, options: MaePretrainOptions): Promise<MaePretrainResult> {
  if (recipe.mae === null) throw new ConfigError('recipe.mae', null, 'must hold the MAE settings for MAE pretraining');
  const mae = new MaskedAutoencoder(encoder, recipe.mae, recipe.seed);
  const source = createBatchSource(train, {
    pipeline: pipelinePreset('vtab', { imageSize: encoder.config.imgSize[0] }),
    batchSize: recipe.batchSize,
    shuffle: true,
    dropLast: true,
    seed: recipe.seed,
  });
  const stepsPerEpoch = source.batchesPerEpoch;
  if (stepsPerEpoch < 1) throw new ConfigError('batchSize', recipe.batchSize, `must not exceed the ${train.examples.length} pretraining images`);
  mae.setTrainable();
  const parameters = mae.parameters;
  const optimizerConfig = resolveOptimizerConfig(recipe.optimizer);
  const optimizer = createOptimizer(
    optimizerConfig,
    groupParameters(parameters, {
      learningRate: optimizerConfig.learningRate,
      weightDecay: optimizerConfig.weightDecay,
      head: { learningRate: optimizerConfig.learningRate, weightDecay: optimizerConfig.weightDecay },
      decayBiasesAndVectors: false,
    }),
  );
  const schedule = new LearningRateSchedule(resolveScheduleConfig(recipe.schedule, recipe.epochs), recipe.epochs, stepsPerEpoch);
  const fingerprint = JSON.parse(JSON.stringify({ recipe, backbone: encoder.config, images: train.examples.length, stepsPerEpoch }));
  const byKey = new Map(parameters.map((parameter) => [parameter.key, parameter.variable]));
  try {
    await mkdir(options.checkpointDir, { recursive: true });
    let history: MaeEpoch[] = [];
    let resumedFrom: number | null = null;
    let partial: PartialEpoch | null = null;
    const checkpoint = await readTrainingCheckpoint(options.checkpointDir);
    if (checkpoint !== null) {
      const source = join(options.checkpointDir, CHECKPOINT_FILE);
      if (JSON.stringify(checkpoint.record.fingerprint) !== JSON.stringify(fingerprint)) {
        throw new ConfigError('checkpoints', options.checkpointDir, 'holds a checkpoint of another pretraining run (recipe, backbone or data differ); give a new directory to start afresh');
      }
      const record = checkpoint.record as { epoch: number; history: MaeEpoch[]; optimizer: { kind: string; steps: Record<string, number> }; partialEpoch?: PartialEpoch };
      partial = record.partialEpoch ?? null;
      if (partial !== null && (!Number.isInteger(partial.step) || partial.step < 1 || partial.step >= stepsPerEpoch || !Number.isFinite(partial.lossSum) || !Number.isFinite(partial.seconds))) {
        throw new FormatError(source, `partialEpoch must hold step (1 to ${stepsPerEpoch - 1}), lossSum and seconds (finite numbers)`);
      }
      for (const [key, variable] of byKey) {
        const host = checkpoint.tensors.get(`model/${key}`);
        if (host === undefined || host.shape.join() !== variable.shape.join()) throw new FormatError(source, `must hold model/${key} of shape [${variable.shape.join(', ')}]`);
        tf.tidy(() => variable.assign(tf.tensor(host.data as Float32Array, variable.shape, 'float32')));
      }
      const optimizerTensors = new Map([...checkpoint.tensors].filter(([key]) => key.startsWith('optimizer/')).map(([key, host]) => [key.slice('optimizer/'.length), host]));
      optimizer.loadState({ kind: record.optimizer.kind, steps: record.optimizer.steps, tensors: optimizerTensors }, source);
      history = record.history;
      resumedFrom = record.epoch;
    }
    const groupRates = (globalStep: number) => optimizer.groups.map((group) => schedule.at(group.learningRate, globalStep));
    const writeCheckpoint = async (epoch: number, within: PartialEpoch | null) => {
      const tensors = new Map<string, HostTensor>([...byKey].map(([key, variable]) => [`model/${key}`, hostTensor(variable)]));
      const state = optimizer.state();
      for (const [key, host] of state.tensors) tensors.set(`optimizer/${key}`, host);
      const record = { epoch, fingerprint, history, optimizer: { kind: state.kind, steps: state.steps }, ...(within === null ? {} : { partialEpoch: within }) };
      const tag = String(epoch).padStart(6, '0') + (within === null ? '' : `-step-${within.step}`);
      await writeTrainingCheckpoint(options.checkpointDir, tag, { record, tensors });
    };
    const stopRequested = () => options.signal?.aborted === true;
    const stopped = (steps: number): MaePretrainResult => ({ status: 'stopped', steps, history, resumedFrom });
    for (let epoch = history.length; epoch < recipe.epochs; epoch++) {
      // Stopped before this epoch's next step: the steps done are those before it, a resumed epoch's included.
      if (stopRequested()) return stopped(epoch * stepsPerEpoch + (partial?.step ?? 0));
      const started = performance.now() - 1000 * (partial?.seconds ?? 0);
      let lossSum = partial?.lossSum ?? 0;
      let step = 0;
      // Resumed within the epoch: its first batches are read again (the order stays the unbroken run's) but not trained on.
      const skip = partial?.step ?? 0;
      partial = null;
      for await (const batch of source(epoch)) {
        if (step < skip) {
          step += 1;
          continue;
        }
        const globalStep = epoch * stepsPerEpoch + step;
        const masking = randomMasking(batch.shape[0], mae.numPatches, recipe.mae.maskRatio, new SeededRandom(deriveSeed(recipe.seed, epoch, step)));
        const images = tf.tensor4d(batch.images, [...batch.shape]);
        const { value, grads } = leanVariableGrads(() => mae.loss(images, masking, { training: true }), [...byKey.values()]);
        const loss = (await value.data())[0]!;
        if (!Number.isFinite(loss)) {
          tf.dispose([images, value, grads]);
          throw new DivergenceError('loss', loss, epoch, step, globalStep);
        }
        const gradients = new Map(parameters.map((parameter) => [parameter.key, grads[parameter.variable.name]!]));
        optimizer.step(gradients, groupRates(globalStep));
        tf.dispose([images, value, grads]);
        lossSum += loss;
        step += 1;
        // The epoch's last step goes on to the epoch's own checkpoint.
        if (stopRequested() && step < stepsPerEpoch) {
          await writeCheckpoint(epoch, { step, lossSum, seconds: (performance.now() - started) / 1000 });
          return stopped(globalStep + 1);
        }
      }
      const summary = { epoch, loss: lossSum / step, seconds: (performance.now() - started) / 1000 };
      history.push(summary);
      await writeCheckpoint(epoch + 1, null);
      options.onEpoch?.(summary, recipe.epochs);
    }
    return { status: 'completed', steps: recipe.epochs * stepsPerEpoch, history, resumedFrom };
  } finally {
    optimizer.dispose();
    mae.dispose();
  }
}

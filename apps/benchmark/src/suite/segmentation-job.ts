import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { SegmentationBatch, SegmentationSplit } from '@visual-peft/datasets';
import { createSegmentationSource } from '@visual-peft/datasets';
import type { GradientUpdate, SegmentationStepResult } from '@visual-peft/segmentation-heads';
import { SegmentationTrainer, SetrPup, evaluateSegmentation } from '@visual-peft/segmentation-heads';
import type { TrainableParameter, TrainingCheckpoint } from '@visual-peft/training';
import {
  CHECKPOINT_FILE,
  Sgd,
  collectDiagnostics,
  collectTrainableParameters,
  fromHostTensor,
  readTrainingCheckpoint,
  restoreTunedTensors,
  toHostTensor,
  tunedTensors,
  writeTrainingCheckpoint,
} from '@visual-peft/training';
import type { BatchSource, HostTensor, TuningMethod, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, FormatError, VisionTransformer, applyTrainablePolicy, countParameters, loadStateDict } from '@visual-peft/vit-core';
import { buildMethod } from '../methods';
import type { OptionValue } from '../set-options';
import { firstBatch } from '../train-job';
import { median, openJobSession } from './job-state';
import type { SegmentationSettings } from './recipes';
import type { Diagnostics, ResultRecord } from './result-record';
import { RESULT_SCHEMA } from './result-record';
import type { JobContext } from './run-job';
import { JobFailedError, RunInterruptedError } from './run-job';

/** ADE20K's protocol: train on `training`, report mIoU on `validation` (the papers' table). */
export interface SegmentationSplits {
  readonly train: SegmentationSplit;
  readonly test: SegmentationSplit;
}

export type SegmentationJobContext = Omit<JobContext, 'splits'> & { readonly splits: SegmentationSplits };

/** Iterations between checkpoints; one is also written at the end and when the run is stopped. */
export const SEGMENTATION_CHECKPOINT_EVERY = 1000;

/**
 * The blocks (0-based) the auxiliary heads read: GatedPT's blocks 5 and 9 of ViT-B's 12, at the
 * same relative depths on other backbones ([4, 8] for 12 blocks, [0, 1] for 2).
 */
export function auxiliaryTaps(depth: number): number[] {
  const taps = [5, 9].map((block) => Math.round((block * depth) / 12) - 1).filter((tap) => tap >= 0);
  return [...new Set(taps)];
}

/**
 * Stages of x2 in the decode head: as many as bring the patch grid back to the crop (4 for
 * 16-pixel patches, SETR-PUP's x16); 4 for a patch size that is no power of two.
 */
export function decodeStages(patchSize: number): number {
  const stages = Math.log2(patchSize);
  return Number.isInteger(stages) && stages >= 1 ? stages : 4;
}

/** mmseg's ADE20K scales for a crop c: images resized to fit [4c, c] (2048 x 512 for c = 512). */
function baseScale(cropSize: number): [number, number] {
  return [4 * cropSize, cropSize];
}

/** The mmseg test's sliding-window stride for a crop: 2/3 of it (341 for 512). */
export function slideStride(cropSize: number): number {
  return Math.floor((2 * cropSize) / 3);
}

/** One SGD (momentum 0.9, as mmseg) per parameter group, driven by the trainer at that group's poly rate. */
function groupOptimizer(name: string, parameters: readonly TrainableParameter[], weightDecay: number): { sgd: Sgd; update: GradientUpdate } {
  const sgd = new Sgd([{ name, learningRate: 0, weightDecay, parameters }]);
  const keyOf = new Map(parameters.map((parameter) => [parameter.variable.name, parameter.key]));
  return {
    sgd,
    update: (gradients, learningRate) => sgd.step(new Map(Object.entries(gradients).map(([name, gradient]) => [keyOf.get(name)!, gradient])), [learningRate]),
  };
}

/**
 * Self-Prompt Tuning reads the training images' tokens: single-scale crops of the backbone's size,
 * unaugmented. A segmentation image has no class; prompt initialisation reads pixels only, so
 * every batch carries class 0.
 */
function promptInitSource(split: SegmentationSplit, settings: SegmentationSettings, batchSize: number, seed: number): BatchSource {
  const { cropSize } = settings;
  const source = createSegmentationSource(split, {
    batchSize,
    seed,
    pipeline: { mode: 'train', cropSize, baseScale: baseScale(cropSize), ratioRange: [1, 1], catMaxRatio: 1, flipProbability: 0, photometric: null },
  });
  return (epoch) => ({
    async *[Symbol.asyncIterator]() {
      for await (const batch of source(epoch)) yield { images: batch.images, shape: batch.shape, labels: new Int32Array(batch.shape[0]) };
    },
  });
}

/**
 * One ADE20K job: SETR-PUP heads on the tuned backbone (the method attached, the backbone at the
 * crop size with its position embedding resampled), trained by `SegmentationTrainer` for the
 * recipe's iterations with the heads at 10x the rate, then mIoU on the validation split by mmseg's
 * single-scale sliding-window test. Every `SEGMENTATION_CHECKPOINT_EVERY` iterations, at the end
 * and when stopped, a checkpoint (tuned weights, heads with their running statistics, both
 * optimisers' momentum) is written to `<work>/final`; the next session resumes at its iteration
 * with exactly the batches and random draws an unbroken run would have had.
 */
export async function runSegmentationJob(context: SegmentationJobContext): Promise<ResultRecord> {
  const { job, recipe, splits, workDir } = context;
  const settings = recipe.segmentation!;
  const { iterations, cropSize } = settings;
  const { state, seconds: jobSeconds, save: saveState } = await openJobSession(workDir);
  const checkpointDir = join(workDir, 'final');
  await mkdir(checkpointDir, { recursive: true });
  const chosen = { learningRate: recipe.grid.learningRates[0]!, weightDecay: recipe.grid.weightDecays[0]! };
  const stopped = () => new RunInterruptedError(`interrupted during job ${job.id}; run the same command again to resume it`);

  const backbone: VitConfig = { ...context.backbone, imgSize: [cropSize, cropSize], numClasses: 0, dropPathRate: recipe.dropPathRate };
  const model = new VisionTransformer(backbone, { seed: job.seed, weights: context.weights === null ? 'random' : 'zeros' });
  const methods: TuningMethod[] = [];
  let setr: SetrPup | null = null;
  const optimizers: Sgd[] = [];
  try {
    if (context.weights !== null) loadStateDict(model, context.weights.stateDict, { source: context.weights.source, head: 'discard' });
    applyTrainablePolicy(model, context.entry.policy);
    const options = context.entry.definition === null ? recipe.options : { seed: job.seed, ...recipe.options };
    methods.push(...buildMethod(context.entry, model, options as Record<string, OptionValue>));
    const heads = new SetrPup(model, {
      numClasses: splits.train.numClasses,
      ignoreIndex: splits.train.ignoreIndex,
      decodeHead: { channels: settings.headChannels, numStages: decodeStages(backbone.patchSize) },
      auxiliaryHead: { channels: settings.headChannels },
      auxiliaryIndices: auxiliaryTaps(backbone.depth),
      seed: job.seed,
    });
    setr = heads;
    const backboneParameters = collectTrainableParameters(model, methods).map(({ key, variable }) => ({ key, variable }));
    const headParameters = heads.parameters.filter((parameter) => !parameter.buffer).map(({ key, variable }) => ({ key, variable }));
    const backboneGroup = groupOptimizer('backbone', backboneParameters, chosen.weightDecay);
    const headGroup = groupOptimizer('head', headParameters, chosen.weightDecay);
    optimizers.push(backboneGroup.sgd, headGroup.sgd);

    const fingerprint = JSON.parse(
      JSON.stringify({ recipe, backbone, methods: methods.map((method) => ({ name: method.name, config: method.config })), heads: heads.config, seed: job.seed }),
    ) as unknown;
    const saveCheckpoint = async (iteration: number) => {
      const tensors = new Map<string, HostTensor>();
      for (const [key, host] of tunedTensors(model, methods)) tensors.set(`model/${key}`, host);
      const headWeights = heads.weights();
      try {
        for (const [key, tensor] of headWeights) tensors.set(`heads/${key}`, toHostTensor(tensor));
      } finally {
        tf.dispose([...headWeights.values()]);
      }
      const steps: Record<string, Record<string, number>> = {};
      for (const sgd of optimizers) {
        const optimizerState = sgd.state();
        const group = sgd.groups[0]!.name;
        steps[group] = { ...optimizerState.steps };
        for (const [key, host] of optimizerState.tensors) tensors.set(`optimizer.${group}/${key}`, host);
      }
      await writeTrainingCheckpoint(checkpointDir, String(iteration).padStart(9, '0'), { record: { iteration, fingerprint, steps }, tensors });
      await saveState();
    };

    const checkpoint = await readTrainingCheckpoint(checkpointDir);
    let iteration = 0;
    if (checkpoint !== null) {
      iteration = restoreCheckpoint(checkpoint, join(checkpointDir, CHECKPOINT_FILE), fingerprint, iterations, { model, methods, heads, optimizers });
    } else {
      // Data-dependent initialisation (Self-Prompt Tuning's prompts); a resumed run restores it instead.
      for (const method of methods) await method.prepare?.(promptInitSource(splits.train, settings, recipe.batchSize, job.seed));
    }

    let peakBytes = 0;
    if (iteration < iterations) {
      const trainSource = createSegmentationSource(splits.train, {
        batchSize: recipe.batchSize,
        seed: job.seed,
        shuffle: true,
        dropLast: true,
        pipeline: { mode: 'train', cropSize, baseScale: baseScale(cropSize) },
      });
      const perEpoch = trainSource.batchesPerEpoch;
      if (perEpoch === 0) throw new JobFailedError(`job ${job.id}: the training split has ${splits.train.examples.length} images, fewer than the batch size ${recipe.batchSize}`);
      const schedule = recipe.schedule;
      const trainer = new SegmentationTrainer(
        heads,
        backboneParameters.map((parameter) => parameter.variable),
        { backbone: backboneGroup.update, head: headGroup.update },
        {
          maxIterations: iterations,
          learningRate: chosen.learningRate,
          headLearningRateMultiplier: settings.headLearningRateMultiplier,
          power: schedule.power ?? 0.9,
          minLearningRate: schedule.minLr ?? 0,
          seed: job.seed,
          startIteration: iteration,
        },
      );
      let profiled = false;
      const step = async (batch: SegmentationBatch): Promise<SegmentationStepResult> => {
        if (profiled) return trainer.step(batch);
        // The session's first step runs under tf.profile: its peak is the record's training memory.
        let result: SegmentationStepResult | undefined;
        const info = await tf.profile(() => {
          result = trainer.step(batch);
        });
        profiled = true;
        peakBytes = info.peakBytes;
        return result!;
      };
      while (trainer.iteration < iterations) {
        const current = trainer.iteration;
        for await (const batch of trainSource(Math.floor(current / perEpoch), current % perEpoch)) {
          if (context.signal?.aborted === true) {
            await saveCheckpoint(trainer.iteration);
            throw stopped();
          }
          const begun = performance.now();
          const result = await step(batch);
          state.stepSeconds.push((performance.now() - begun) / 1000);
          if (!Number.isFinite(result.loss)) throw new JobFailedError(`job ${job.id}: training diverged at iteration ${result.iteration + 1} (loss ${result.loss})`);
          const done = trainer.iteration;
          context.onProgress?.({
            phase: 'final',
            point: 0,
            points: 1,
            ...chosen,
            event: { type: 'iteration', iteration: result.iteration, iterations, loss: result.loss },
            stepsDone: done,
            totalSteps: iterations,
          });
          if (done % SEGMENTATION_CHECKPOINT_EVERY === 0 || done === iterations) await saveCheckpoint(done);
          if (done === iterations) break;
        }
      }
    }

    // mmseg's test: each validation image resized to fit [4c, c], slid over in c x c windows, scored at its annotation's size.
    const evalSource = createSegmentationSource(splits.test, { batchSize: 1, pipeline: { mode: 'eval', baseScale: baseScale(cropSize) } });
    const watched = async function* () {
      for await (const batch of evalSource(0)) {
        if (context.signal?.aborted === true) throw stopped();
        yield batch;
      }
    };
    const evaluation = await evaluateSegmentation(heads, watched(), { mode: 'slide', stride: slideStride(cropSize) });
    const { mIoU } = evaluation.metrics;
    if (!Number.isFinite(mIoU)) throw new JobFailedError(`job ${job.id}: the validation split has no labelled pixel, so mIoU is undefined`);

    // The methods' diagnostics once, after the last iteration: probe images are a fixed batch of
    // validation crops; there is no labelled source (ADE20K has no image-level labels).
    const probe = await firstBatch(promptInitSource(splits.test, settings, recipe.batchSize, job.seed));
    const lastEpoch = Math.floor((iterations - 1) / Math.max(1, Math.floor(splits.train.examples.length / recipe.batchSize)));
    const diagnostics: Diagnostics = [{ epoch: lastEpoch, methods: await collectDiagnostics(model, methods, { images: probe, source: null }, lastEpoch) }];
    const method = methods[0];
    // The heads (decode and auxiliary) train with the method: they count as trainable parameters.
    const counts = countParameters(model, methods);
    const headCount = heads.numParameters();
    const seconds = jobSeconds();
    return {
      schema: RESULT_SCHEMA,
      suite: context.suite,
      suiteHash: context.suiteHash,
      job,
      protocol: {
        grid: [{ ...chosen, score: null, failure: null }],
        chosen,
        searchSplits: { train: splits.train.split, validation: splits.test.split },
        finalSplits: { train: splits.train.split, test: splits.test.split },
        epochs: 0,
        iterations,
        batchSize: recipe.batchSize,
        optimizer: recipe.optimizer,
        options: JSON.parse(JSON.stringify(method?.config ?? {})) as Record<string, unknown>,
      },
      metric: { name: 'mIoU', value: mIoU },
      parameters: { ...counts, total: counts.total + headCount, trainable: counts.trainable + headCount },
      timing: { seconds, stepSeconds: state.stepSeconds.length > 0 ? median(state.stepSeconds) : 0, peakBytes },
      diagnostics,
      environment: context.environment,
      finishedAt: new Date().toISOString(),
    };
  } finally {
    optimizers.forEach((sgd) => sgd.dispose());
    setr?.dispose();
    methods.forEach((method) => method.dispose());
    model.dispose();
  }
}

/** Puts a saved run back (weights, heads, optimisers) after checking it is this run's; returns its iteration. */
function restoreCheckpoint(
  checkpoint: TrainingCheckpoint,
  source: string,
  fingerprint: unknown,
  iterations: number,
  run: { model: VisionTransformer; methods: readonly TuningMethod[]; heads: SetrPup; optimizers: readonly Sgd[] },
): number {
  const { iteration, steps } = checkpoint.record as { iteration?: unknown; steps?: Record<string, Record<string, number>> };
  if (JSON.stringify(checkpoint.record.fingerprint) !== JSON.stringify(fingerprint)) {
    throw new ConfigError('checkpoint', source, "belongs to another configuration of this job; delete the job's work folder to start it afresh");
  }
  if (typeof iteration !== 'number' || !Number.isInteger(iteration) || iteration < 0 || iteration > iterations || typeof steps !== 'object' || steps === null) {
    throw new FormatError(source, `must hold an iteration in [0, ${iterations}] and the optimisers' step counts`);
  }
  const part = (prefix: string) => new Map([...checkpoint.tensors].filter(([key]) => key.startsWith(`${prefix}/`)).map(([key, host]) => [key.slice(prefix.length + 1), host]));
  restoreTunedTensors(run.model, run.methods, part('model'), source);
  const headTensors = new Map([...part('heads')].map(([key, host]) => [key, fromHostTensor(host)]));
  try {
    run.heads.loadWeights(headTensors);
  } finally {
    tf.dispose([...headTensors.values()]);
  }
  for (const sgd of run.optimizers) {
    const group = sgd.groups[0]!.name;
    sgd.loadState({ kind: sgd.kind, steps: steps[group] ?? {}, tensors: part(`optimizer.${group}`) }, source);
  }
  return iteration;
}

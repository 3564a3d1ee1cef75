import { join } from 'node:path';
import type { SegmentationSplit } from '@visual-peft/datasets';
import { createSegmentationSource } from '@visual-peft/datasets';
import type { SegmentationStepResult } from '@visual-peft/segmentation-heads';
import { SegmentationLoop, SetrPup, evaluateSegmentation } from '@visual-peft/segmentation-heads';
import { DivergenceError, collectDiagnostics } from '@visual-peft/training';
import type { BatchSource, TuningMethod, VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, countParameters, loadStateDict } from '@visual-peft/vit-core';
import { buildMethod } from '../methods';
import type { OptionValue } from '../set-options';
import { median, openJobSession } from './job-state';
import type { SegmentationSettings } from './recipes';
import type { Diagnostics, ResultRecord } from './result-record';
import { RESULT_SCHEMA } from './result-record';
import type { JobContext } from './run-job';
import { JobFailedError, RunInterruptedError } from './run-job';
import { profileStep } from '../step/profile-step';
import { firstBatch } from '../train-job';

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

/**
 * Up-sampling of each of an auxiliary head's 2 stages: mmseg's ADE20K SETR-PUP config leaves
 * `SETRUPHead`'s `up_scale=4` (x16 in all for 16-pixel patches, back to the crop): the square root
 * of the patch size where it is a whole power of two, else 2.
 */
export function auxiliaryUpScale(patchSize: number): number {
  const root = Math.sqrt(patchSize);
  return Number.isInteger(root) && Number.isInteger(Math.log2(root)) && root >= 2 ? root : 2;
}

/** mmseg's ADE20K scales for a crop c: images resized to fit [4c, c] (2048 x 512 for c = 512). */
function baseScale(cropSize: number): [number, number] {
  return [4 * cropSize, cropSize];
}

/** The mmseg test's sliding-window stride for a crop: 2/3 of it (341 for 512). */
export function slideStride(cropSize: number): number {
  return Math.floor((2 * cropSize) / 3);
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
 * crop size with its position embedding resampled), trained by `SegmentationLoop` for the
 * recipe's iterations with the heads at 10x the rate, then mIoU on the validation split by mmseg's
 * single-scale sliding-window test. Every `SEGMENTATION_CHECKPOINT_EVERY` iterations, at the end
 * and when stopped, the loop writes its checkpoint (tuned weights, heads with their running
 * statistics, the optimiser's momentum per group) to `<work>/final`; the next session resumes at its
 * iteration with exactly the batches and random draws an unbroken run would have had.
 */
export async function runSegmentationJob(context: SegmentationJobContext): Promise<ResultRecord> {
  const { job, recipe, splits, workDir } = context;
  const settings = recipe.segmentation!;
  const { iterations, cropSize } = settings;
  const { state, seconds: jobSeconds, save: saveState } = await openJobSession(workDir);
  const checkpointDir = join(workDir, 'final');
  const chosen = { learningRate: recipe.grid.learningRates[0]!, weightDecay: recipe.grid.weightDecays[0]! };
  const stopped = () => new RunInterruptedError(`interrupted during job ${job.id}; run the same command again to resume it`);

  const backbone: VitConfig = { ...context.backbone, imgSize: [cropSize, cropSize], numClasses: 0, dropPathRate: recipe.dropPathRate };
  const model = new VisionTransformer(backbone, { seed: job.seed, weights: context.weights === null ? 'random' : 'zeros' });
  const methods: TuningMethod[] = [];
  let setr: SetrPup | null = null;
  let loop: SegmentationLoop | null = null;
  try {
    if (context.weights !== null) loadStateDict(model, context.weights.stateDict, { source: context.weights.source, head: 'discard' });
    applyTrainablePolicy(model, context.entry.policy);
    const options = context.entry.definition === null ? recipe.options : { seed: job.seed, ...recipe.options };
    methods.push(...buildMethod(context.entry, model, options as Record<string, OptionValue>));
    const heads = new SetrPup(model, {
      numClasses: splits.train.numClasses,
      ignoreIndex: splits.train.ignoreIndex,
      decodeHead: { channels: settings.headChannels, numStages: decodeStages(backbone.patchSize) },
      auxiliaryHead: { channels: settings.headChannels, upScale: auxiliaryUpScale(backbone.patchSize) },
      auxiliaryIndices: auxiliaryTaps(backbone.depth),
      seed: job.seed,
    });
    setr = heads;
    const schedule = recipe.schedule;
    loop = new SegmentationLoop(heads, methods, {
      maxIterations: iterations,
      learningRate: chosen.learningRate,
      headLearningRateMultiplier: settings.headLearningRateMultiplier,
      power: schedule.power ?? 0.9,
      minLearningRate: schedule.minLr ?? 0,
      seed: job.seed,
      optimizer: { kind: recipe.optimizer, weightDecay: chosen.weightDecay },
      checkpointEvery: SEGMENTATION_CHECKPOINT_EVERY,
    });
    const fingerprint = JSON.parse(
      JSON.stringify({ recipe, backbone, methods: methods.map((method) => ({ name: method.name, config: method.config })), heads: heads.config, seed: job.seed }),
    ) as unknown;

    const trainSource = createSegmentationSource(splits.train, {
      batchSize: recipe.batchSize,
      seed: job.seed,
      shuffle: true,
      dropLast: true,
      pipeline: { mode: 'train', cropSize, baseScale: baseScale(cropSize) },
    });
    if (trainSource.batchesPerEpoch === 0) throw new JobFailedError(`job ${job.id}: the training split has ${splits.train.examples.length} images, fewer than the batch size ${recipe.batchSize}`);
    let peakBytes = 0;
    let profiled = false;
    try {
      const run = await loop.fit({
        train: trainSource,
        outputDir: checkpointDir,
        fingerprint,
        signal: context.signal,
        onStart: async (resumedFrom) => {
          if (resumedFrom !== null) return;
          // Data-dependent initialisation (Self-Prompt Tuning's prompts); a resumed run restores it instead.
          for (const method of methods) await method.prepare?.(promptInitSource(splits.train, settings, recipe.batchSize, job.seed));
        },
        runStep: async (step) => {
          const begun = performance.now();
          let result: SegmentationStepResult | undefined;
          if (profiled) result = step();
          else {
            // The session's first step is profiled: its peak is the record's training memory.
            ({ peakBytes } = await profileStep(() => {
              result = step();
            }));
            profiled = true;
          }
          state.stepSeconds.push((performance.now() - begun) / 1000);
          return result!;
        },
        onStep: (result) =>
          context.onProgress?.({
            phase: 'final',
            point: 0,
            points: 1,
            ...chosen,
            event: { type: 'iteration', iteration: result.iteration, iterations, loss: result.loss },
            stepsDone: result.iteration + 1,
            totalSteps: iterations,
          }),
        onCheckpoint: saveState,
      });
      if (run.status === 'stopped') throw stopped();
    } catch (error) {
      if (error instanceof DivergenceError) throw new JobFailedError(`job ${job.id}: training diverged at iteration ${error.globalStep + 1} (loss ${error.value})`);
      throw error;
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
    loop?.dispose();
    setr?.dispose();
    methods.forEach((method) => method.dispose());
    model.dispose();
  }
}

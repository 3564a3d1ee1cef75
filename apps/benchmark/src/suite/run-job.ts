import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClassificationSplit, PipelinePresetName } from '@visual-peft/datasets';
import type { ProgressEvent, TrainerConfigInput } from '@visual-peft/training';
import { DivergenceError, saveTunedWeights } from '@visual-peft/training';
import { VQT_DEFINITION, VqtMethod, compressWithGroupLasso } from '@visual-peft/query-tuning';
import type { TuningMethod, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, VisualPeftError, countParameters, writeFileAtomic } from '@visual-peft/vit-core';
import { InterruptedError } from '../errors';
import type { MethodEntry } from '../methods';
import { findMethod, trainsThroughBlocks } from '../methods';
import type { MicroBatchChoice, MicroBatchSetting } from '../step/micro-batch';
import { gradientPass, profileStep } from '../step/profile-step';
import type { BackboneWeights, FrozenStage, TrainJobSpec, TrainSetup } from '../train-job';
import type { HeadSetup } from '../train-job';
import { DEFAULT_HEAD, firstBatch, recordedDiagnostics, trainJob, tunedRunInfo } from '../train-job';
import { median, openJobSession } from './job-state';
import type { Recipe } from './recipes';
import { taskTraining } from './recipes';
import type { Compression, GridPoint, JobKey, ResultRecord, RunEnvironment, SuiteName } from './result-record';
import { RESULT_SCHEMA } from './result-record';
import type { SuiteTask } from './suite-config';

/** The run was stopped (Ctrl-C, an abort signal): what finished is stored, the rest resumes on the next run. */
export class RunInterruptedError extends InterruptedError {}

/** A job cannot produce a result (every grid point diverged, or the final run did). */
export class JobFailedError extends VisualPeftError {}

/** The four splits of a task under the protocol: search on train -> validation, final on finalTrain -> test. */
export interface TaskSplits {
  readonly train: ClassificationSplit;
  readonly validation: ClassificationSplit;
  readonly finalTrain: ClassificationSplit;
  readonly test: ClassificationSplit;
}

/** A step of an iteration-based run (ADE20K), which has no epochs. */
export interface IterationEvent {
  readonly type: 'iteration';
  /** The step just finished, 0-based. */
  readonly iteration: number;
  readonly iterations: number;
  readonly loss: number;
}

/** Where a job is, for progress lines. */
export interface JobProgress {
  readonly phase: 'search' | 'final';
  /** 0-based grid point being searched (the final run: the chosen point's index). */
  readonly point: number;
  readonly points: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly event: ProgressEvent | IterationEvent;
  /** Training steps of the job done so far (this session's and earlier sessions' finished phases) and in all. */
  readonly stepsDone: number;
  readonly totalSteps: number;
}

export interface JobContext {
  readonly job: JobKey;
  readonly suite: SuiteName;
  readonly suiteHash: string;
  readonly recipe: Recipe;
  /** The registry entry the recipe's method names. */
  readonly entry: MethodEntry;
  readonly task: SuiteTask;
  readonly splits: TaskSplits;
  /** The backbone's config (its head is replaced by one of the task's classes). */
  readonly backbone: VitConfig;
  readonly weights: BackboneWeights | null;
  /** `<out>/work/<job id>`: checkpoints and the job's saved state; removed once the result is stored. */
  readonly workDir: string;
  /**
   * `<out>/weights/<job id>`: where the final run's tuned weights are kept (`tuned.safetensors` and
   * `tuned.json` as `train` writes them; a two-stage job's first stage in `stage1/`), written before
   * the job returns its record. Absent: not kept (`run --no-weights`).
   */
  readonly weightsDir?: string;
  readonly environment: RunEnvironment;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: JobProgress) => void;
  /** Images per forward and backward pass, or `auto` (probed once per job). Default: the whole batch. */
  readonly microBatch?: MicroBatchSetting;
  /** Per-block activation checkpointing in training passes. Default false. */
  readonly recompute?: boolean;
  /** Told the job's micro-batch when its first training run starts. */
  readonly onMicroBatch?: (choice: MicroBatchChoice) => void;
}

/**
 * A two-stage job (a recipe with `firstStage`): the first stage is a whole job of its own (search
 * and final run, in `<work>/stage1`), whose final run's tuned weights are saved; its record is
 * kept in `<work>/stage1.json`, so a killed job resumes in the stage it was in. The second stage
 * is a whole job (in `<work>/stage2`) over the frozen first stage. One record: the second stage's,
 * with the first stage's protocol, metric and parameters under `protocol.firstStage`. Parameters
 * count both stages: `extra` is what the final model adds to the backbone (the first stage's
 * modules and the second's, heads excluded), `trainable` what the two stages trained (each stage's
 * head included), as VQT's Figure 2 compares AdaptFormer + VQT with a wider AdaptFormer by all
 * the tunable parameters of both.
 */
export async function runJob(context: JobContext): Promise<ResultRecord> {
  const { recipe, workDir } = context;
  if (recipe.compress !== undefined && context.entry.definition !== VQT_DEFINITION) {
    throw new ConfigError('compress', recipe.method, "applies to VQT's head only (group lasso over its input features, VQT Sec. 3.3)");
  }
  if (recipe.firstStage === undefined) return runStage(context, {});
  const firstRecipe = recipe.firstStage;
  const firstEntry = findMethod(firstRecipe.method);
  const recordPath = join(workDir, 'stage1.json');
  const weights = join(workDir, 'stage1-tuned.safetensors');
  let first: ResultRecord;
  try {
    first = JSON.parse(await readFile(recordPath, 'utf8')) as ResultRecord;
  } catch {
    first = await runStage({ ...context, recipe: firstRecipe, entry: firstEntry, workDir: join(workDir, 'stage1') }, { saveTunedTo: weights });
    await writeFileAtomic(recordPath, `${JSON.stringify(first)}\n`);
    await rm(join(workDir, 'stage1'), { recursive: true, force: true });
  }
  // The first stage beside the second, as `train` leaves a two-stage run (loadTunedModel applies stage1/ first).
  if (context.weightsDir !== undefined) {
    for (const suffix of ['.safetensors', '.json']) await writeFileAtomic(join(context.weightsDir, 'stage1', `tuned${suffix}`), await readFile(join(workDir, `stage1-tuned${suffix}`)));
  }
  const { firstStage: _, ...secondRecipe } = recipe;
  const second = await runStage({ ...context, recipe: secondRecipe, workDir: join(workDir, 'stage2') }, { frozen: { method: firstEntry, options: firstEntry.definition === null ? firstRecipe.options : { seed: context.job.seed, ...firstRecipe.options }, weights } });
  const sum = (key: keyof ResultRecord['parameters']) => first.parameters[key] + second.parameters[key];
  return {
    ...second,
    protocol: {
      ...second.protocol,
      firstStage: { method: firstEntry.name, protocol: first.protocol, metric: first.metric, parameters: first.parameters, seconds: first.timing.seconds },
    },
    // The backbone is counted once: the second stage's total holds it and the second stage's modules.
    parameters: { total: second.parameters.total + first.parameters.extra, trainable: sum('trainable'), extra: sum('extra'), trainableBackbone: sum('trainableBackbone') },
    timing: { ...second.timing, seconds: first.timing.seconds + second.timing.seconds },
  };
}

/** What `predict --run <weights dir>` reads beside the tuned weights: the job and the pipeline its test images went through. */
export interface KeptJob {
  readonly job: string;
  readonly task: string;
  readonly dataset: string;
  readonly evalPipeline: PipelinePresetName;
}

/** Writes a job's final tuned weights (with class names and backbone source) and `job.json` into its weights folder, when kept. */
async function keepTuned(context: JobContext, model: VisionTransformer, methods: readonly TuningMethod[], split: ClassificationSplit, head: HeadSetup, evalPipeline: PipelinePresetName): Promise<void> {
  const dir = context.weightsDir;
  if (dir === undefined) return;
  await saveTunedWeights(join(dir, 'tuned.safetensors'), model, methods, tunedRunInfo(split, context.weights, context.job.seed, head));
  const kept: KeptJob = { job: context.job.id, task: context.task.task, dataset: context.task.dataset, evalPipeline };
  await writeFileAtomic(join(dir, 'job.json'), `${JSON.stringify(kept, null, 2)}\n`);
}

/**
 * One job of a suite, the papers' protocol: every grid point (lr x wd) trained on the search split
 * and scored by top-1 on the validation split after its last epoch; the best point (the first in
 * grid order on a tie) trained on the final split and evaluated on test. A job is one seed and runs
 * its own search with that seed (search once per job), so seeds repeat the whole protocol. A
 * one-point grid (a recipe that fixes lr and wd) skips the search. The final run asks the methods for
 * their diagnostics after every epoch (a fixed validation batch as probe images, the final training
 * split as labelled source); the trainer's history, kept by its checkpoints, carries them into the
 * record. Scored points and step times are saved in `<work>/state.json` as they come, and each
 * phase resumes from its trainer checkpoint.
 */
async function runStage(context: JobContext, stage: { readonly frozen?: FrozenStage; readonly saveTunedTo?: string }): Promise<ResultRecord> {
  const { job, recipe, task, splits, workDir } = context;
  const { state, seconds: jobSeconds, save: saveState } = await openJobSession(workDir);

  const points = recipe.grid.learningRates.flatMap((learningRate) => recipe.grid.weightDecays.map((weightDecay) => ({ learningRate, weightDecay })));
  const searching = points.length > 1;
  const stepsPerEpoch = (split: ClassificationSplit) => Math.floor(split.examples.length / recipe.batchSize);
  const stepsOf = (split: ClassificationSplit) => stepsPerEpoch(split) * recipe.epochs;
  // Steps of a run done when an event arrives (an epoch event closes its epoch).
  const stepsAfter = (event: ProgressEvent, split: ClassificationSplit) => (event.type === 'step' ? event.globalStep + 1 : (event.epoch + 1) * stepsPerEpoch(split));
  const totalSteps = (searching ? points.length * stepsOf(splits.train) : 0) + stepsOf(splits.finalTrain);
  const { pipelines, labelSmoothing } = taskTraining(recipe, task);
  // The family's classifier (recipeFor) decides the pooling whatever the backbone's config says.
  const classifier = recipe.classifier;
  const pooling = classifier === undefined ? {} : { globalPool: classifier.pool, fcNorm: classifier.pool === 'avg' };
  const spec = (train: ClassificationSplit, validation: ClassificationSplit | null, point: { learningRate: number; weightDecay: number }, outputDir: string, onProgress: (event: ProgressEvent) => void): TrainJobSpec => {
    const trainer: Omit<TrainerConfigInput, 'stepsPerEpoch' | 'seed'> = {
      epochs: recipe.epochs,
      optimizer: { kind: recipe.optimizer, learningRate: point.learningRate, weightDecay: point.weightDecay },
      schedule: recipe.schedule,
      ...(recipe.headWeightDecay === null ? {} : { head: { weightDecay: recipe.headWeightDecay } }),
      batchScaling: recipe.batchScaling ? { batchSize: recipe.batchSize } : null,
      labelSmoothing,
      ema: recipe.ema === null ? null : { decay: recipe.ema },
      // The search scores the last epoch only; the final run is scored on test after training.
      evaluateEvery: recipe.epochs,
    };
    return {
      backbone: { ...context.backbone, numClasses: train.numClasses, dropPathRate: recipe.dropPathRate, ...pooling },
      weights: context.weights,
      method: context.entry,
      ...(classifier === undefined ? {} : { head: { init: classifier.init, std: classifier.std, norm: classifier.norm } }),
      // Each seed also re-draws the method's own initialisation, unless the suite fixes its seed.
      options: context.entry.definition === null ? recipe.options : { seed: job.seed, ...recipe.options },
      train,
      validation,
      pipelines,
      batchSize: recipe.batchSize,
      seed: job.seed,
      trainer,
      outputDir,
      ...(context.signal === undefined ? {} : { signal: context.signal }),
      onProgress,
      ...(stage.frozen === undefined ? {} : { frozen: stage.frozen }),
      ...execution(),
    };
  };
  // --recompute applies to the stages that back-propagate through the blocks (not VQT's, not a linear probe's).
  const recompute = (context.recompute ?? false) && trainsThroughBlocks(context.entry);
  // `auto` is probed by the job's first training run; the later ones reuse its choice.
  let microBatch = context.microBatch;
  let chosenMicroBatch: MicroBatchChoice | null = null;
  const execution = () => ({
    ...(microBatch === undefined ? {} : { microBatch }),
    recompute,
    onMicroBatch: (choice: MicroBatchChoice) => {
      if (chosenMicroBatch === null) context.onMicroBatch?.(choice);
      chosenMicroBatch = choice;
      microBatch = choice.microBatch;
    },
  });
  const stopped = () => new RunInterruptedError(`interrupted during job ${job.id}; run the same command again to resume it`);

  // Search: one trainer run per grid point not scored yet.
  if (searching) {
    for (const [index, point] of points.entries()) {
      if (state.grid.some((done) => done.learningRate === point.learningRate && done.weightDecay === point.weightDecay)) continue;
      const pointDir = join(workDir, 'search', String(index));
      const doneBefore = state.grid.length * stepsOf(splits.train);
      let scored: GridPoint;
      try {
        scored = await trainJob(
          spec(splits.train, splits.validation, point, pointDir, (event) =>
            context.onProgress?.({ phase: 'search', point: index, points: points.length, ...point, event, stepsDone: doneBefore + stepsAfter(event, splits.train), totalSteps }),
          ),
          async ({ result }) => {
            if (result.status === 'stopped') throw stopped();
            const evaluation = result.history.at(-1)?.evaluation ?? null;
            if (evaluation === null) throw new JobFailedError(`job ${job.id}: grid point lr ${point.learningRate} wd ${point.weightDecay} ended without a validation score`);
            return { ...point, score: evaluation.top1, failure: null };
          },
        );
      } catch (error) {
        if (!(error instanceof DivergenceError)) throw error;
        scored = { ...point, score: null, failure: error.message };
      }
      state.grid.push(scored);
      await saveState();
      await rm(pointDir, { recursive: true, force: true });
    }
  }
  const scoredPoints = searching ? points.map((point) => state.grid.find((done) => done.learningRate === point.learningRate && done.weightDecay === point.weightDecay)!) : [];
  let chosenIndex = 0;
  if (searching) {
    chosenIndex = -1;
    scoredPoints.forEach((point, index) => {
      if (point.score !== null && (chosenIndex < 0 || point.score > scoredPoints[chosenIndex]!.score!)) chosenIndex = index;
    });
    if (chosenIndex < 0) throw new JobFailedError(`job ${job.id}: every grid point diverged (first: ${scoredPoints[0]!.failure}); narrow the grid in a suite file`);
  }
  const chosen = points[chosenIndex]!;

  // Final run on the final split with the chosen point.
  const searchedSteps = searching ? points.length * stepsOf(splits.train) : 0;
  let lastStep = performance.now();
  let profiled = { peakBytes: 0, seconds: 0 };
  try {
    const finalRun = spec(splits.finalTrain, null, chosen, join(workDir, 'final'), (event) => {
      if (event.type === 'step') {
        const now = performance.now();
        state.stepSeconds.push((now - lastStep) / 1000);
        lastStep = now;
      }
      context.onProgress?.({ phase: 'final', point: chosenIndex, points: points.length, ...chosen, event, stepsDone: searchedSteps + stepsAfter(event, splits.finalTrain), totalSteps });
    });
    const measured = await trainJob(
      {
        ...finalRun,
        diagnostics: { images: splits.validation, source: splits.finalTrain },
        onProgress: async (event) => {
          finalRun.onProgress?.(event);
          if (event.type === 'epoch') await saveState();
        },
      },
      async ({ model, methods, trainer, result, evalSource }) => {
        if (result.status === 'stopped') throw stopped();
        if (stage.saveTunedTo !== undefined) await saveTunedWeights(stage.saveTunedTo, model, methods);
        const test = await trainer.evaluate(evalSource(splits.test));
        const method = methods[0];
        let compression: Compression | null = null;
        let top1 = test.top1;
        if (recipe.compress !== undefined) {
          // VQT Sec. 3.3: queries frozen, the head refitted on the features group lasso keeps (on the final split, no augmentation).
          const vqt = methods.find((candidate) => candidate instanceof VqtMethod)!;
          const { keepFraction, penalty } = recipe.compress;
          const fit = await compressWithGroupLasso(vqt, evalSource(splits.finalTrain), { keepFraction, penalty, seed: job.seed });
          top1 = (await trainer.evaluate(evalSource(splits.test))).top1;
          compression = { keepFraction, penalty, featuresBefore: fit.featuresBefore, featuresAfter: fit.featuresAfter, top1Before: test.top1, top1After: top1 };
        }
        // The model the record scores (compressed where it was), with what predict and export need to rebuild it.
        if (stage.saveTunedTo === undefined) await keepTuned(context, model, methods, splits.finalTrain, finalRun.head ?? DEFAULT_HEAD, pipelines.eval);
        return {
          compression,
          top1,
          parameters: countParameters(model, methods),
          options: JSON.parse(JSON.stringify(method?.config ?? {})) as Record<string, unknown>,
          diagnostics: recordedDiagnostics(result.history, result.initialDiagnostics),
        };
      },
      async ({ trainer, trainSource }: TrainSetup) => {
        profiled = await profileStep(gradientPass(trainer, await firstBatch(trainSource)));
        // Step times restart as each epoch starts, leaving out evaluation, diagnostics and checkpoints.
        return (epoch: number) => {
          lastStep = performance.now();
          return trainSource(epoch);
        };
      },
    );
    const seconds = jobSeconds();
    return {
      schema: RESULT_SCHEMA,
      suite: context.suite,
      suiteHash: context.suiteHash,
      job,
      protocol: {
        grid: searching ? scoredPoints : [{ ...chosen, score: null, failure: null }],
        chosen,
        searchSplits: { train: splits.train.split, validation: splits.validation.split },
        finalSplits: { train: splits.finalTrain.split, test: splits.test.split },
        epochs: recipe.epochs,
        batchSize: recipe.batchSize,
        optimizer: recipe.optimizer,
        options: measured.options,
        ...(classifier === undefined ? {} : { family: classifier.family, head: { pool: classifier.pool, norm: classifier.norm, init: classifier.init, std: classifier.std } }),
        ...(measured.compression === null ? {} : { compression: measured.compression }),
      },
      metric: { name: 'top1', value: measured.top1 },
      parameters: measured.parameters,
      // Without any step time saved (a one-epoch run killed between its checkpoint and its state), the profiled step stands in.
      timing: {
        seconds,
        stepSeconds: state.stepSeconds.length > 0 ? median(state.stepSeconds) : profiled.seconds,
        peakBytes: profiled.peakBytes,
        microBatch: (chosenMicroBatch as MicroBatchChoice | null)?.microBatch ?? recipe.batchSize,
        recompute,
      },
      diagnostics: measured.diagnostics,
      environment: context.environment,
      finishedAt: new Date().toISOString(),
    };
  } catch (error) {
    if (error instanceof DivergenceError) throw new JobFailedError(`job ${job.id}: the final run diverged (${error.message})`);
    throw error;
  }
}

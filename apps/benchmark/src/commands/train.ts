import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { classificationProtocol, imageFolderProtocol, loadClassificationSplit } from '@visual-peft/datasets';
import { firstDifference, saveTunedWeights } from '@visual-peft/training';
import { VQT_DEFINITION, VqtMethod, compressWithGroupLasso } from '@visual-peft/query-tuning';
import type { HeadInit, StateDict, VitConfig } from '@visual-peft/vit-core';
import { FormatError, countParameters, writeFileAtomic } from '@visual-peft/vit-core';
import { readFile } from 'node:fs/promises';
import { activateBackend } from '../activate-backend';
import { runEnvironment } from '../environment';
import { BACKEND_OPTION, backendFlag, choiceFlag, datasetFlag, integerFlag, numberFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone, weightsFlag } from '../backbone';
import { InterruptedError, UsageError } from '../errors';
import { withInterrupt } from '../interrupt';
import { lockOutput } from '../output-lock';
import type { Io } from '../io';
import type { MicroBatchChoice } from '../step/micro-batch';
import { describeMicroBatch, memoryBudget, microBatchFlag } from '../step/micro-batch';
import type { MethodEntry } from '../methods';
import { checkRecompute, findStages, trainsThroughBlocks } from '../methods';
import type { OptionValue } from '../set-options';
import { parseSetOptions } from '../set-options';
import type { BackboneFamily } from '../suite/recipes';
import { BACKBONE_FAMILIES, RECIPES, VQT_COMPRESS, classifierSetup } from '../suite/recipes';
import { STORE_LABELS } from '../suite/result-store';
import { batchSizeRule, checkBackboneWeights, checkSplitImages } from '../suite/check-inputs';
import { checkpointSha256, dataFingerprint } from '../suite/input-identity';
import type { FrozenStage, HeadSetup } from '../train-job';
import { recordedDiagnostics, trainJob, tunedRunInfo } from '../train-job';

export const TRAIN_USAGE =
  'train --backbone <preset | config.json> [--weights <checkpoint>] [--family supervised|mae|moco-v3] [--head-init timm|vpt|torch|zeros] --dataset <name> --root <dir> --method <name> [--set key=value ...] --out <dir> ' +
  '[--train-split S] [--eval-split S] [--val-fraction f] [--epochs 10] [--batch-size 32] [--optimizer sgd|adamw|adam] [--lr 0.01] [--weight-decay 0] ' +
  '[--warmup-epochs 0] [--schedule cosine|constant] [--label-smoothing 0] [--seed 0] [--micro-batch N|auto] [--recompute] [--backend auto|tensorflow|wasm|cpu]';

/** `train`'s defaults, shared with the commands that train a probe the same way (`deletion`). */
export const TRAIN_DEFAULTS = { epochs: 10, batchSize: 32, learningRate: 0.01 } as const;

const HEAD_INITS: readonly HeadInit[] = ['timm', 'vpt', 'torch', 'zeros'];

/** `--val-fraction`: an image folder's share of each class held out for validation (`train` and `data`). */
export function valFractionFlag(value: string | undefined, dataset: string): number | undefined {
  if (value === undefined) return undefined;
  if (dataset !== 'image-folder') throw new UsageError(`--val-fraction applies to --dataset image-folder only (${dataset} has its own validation split)`);
  return numberFlag('val-fraction', value, 0, (v) => v > 0 && v < 1, 'in (0, 1)');
}

/** MAE's released layout: its pretraining encoder ends in the final `norm` and has no `fc_norm` (nor a head). */
export function hasMaeLayout(stateDict: StateDict): boolean {
  return stateDict.has('norm.weight') && !stateDict.has('fc_norm.weight');
}

/**
 * The classifier of a `train` run. With `--family`, the one the method's official code builds on
 * that family (its recipe's head; the pooling overrides the config's). Without it, the config's
 * pooling as given and the method's supervised head; an average-pooled config loads an MAE-layout
 * checkpoint's final `norm` after the pooled mean, as GatedPT and SPT read MAE. `--head-init`
 * replaces the init (e.g. SPT's timm head on `vpt-shallow --set init=kmeans`).
 */
export function trainHead(method: string, family: BackboneFamily | undefined, config: VitConfig, stateDict: StateDict | null, headInit: HeadInit | undefined): { config: VitConfig; head: HeadSetup } {
  const setup = classifierSetup(RECIPES[method]?.head, family ?? 'supervised');
  const init = headInit ?? setup.init;
  const std = headInit === undefined || headInit === setup.init ? setup.std : null;
  if (family !== undefined) {
    const avg = setup.pool === 'avg';
    return { config: { ...config, globalPool: setup.pool, fcNorm: avg }, head: { init, std, norm: setup.norm } };
  }
  const norm = config.fcNorm && stateDict !== null && hasMaeLayout(stateDict) ? 'from-norm' : 'checkpoint';
  return { config, head: { init, std, norm } };
}

/**
 * Trains one method on one dataset split and evaluates it: the dataset's protocol gives the default
 * splits and input pipeline, `--out` receives the trainer's checkpoints (running the same command
 * again resumes), the tuned weights (`tuned.safetensors`, with the class names and the backbone's
 * checkpoint or seed, so `loadTunedModel` rebuilds the model) and the result (`result.json`), which is
 * also printed as one JSON line (with each class's top-1 on the evaluation split, also printed as a
 * line on stderr). An image folder evaluates on its validation split: a `val/` folder beside the
 * classes or `--val-fraction` of each class held out with `--seed`. A two-stage `--method second+first` trains `first` with the same
 * flags (and `--first-set` options) into `<out>/stage1` first, then `second` over it frozen; a run
 * killed in stage 2 resumes there (stage 1's `result.json` marks it done). `--compress-keep`
 * compresses VQT's head by group lasso after training (VQT Sec. 3.3) and records top-1 before and after.
 */
export async function train(args: readonly string[], io: Io): Promise<void> {
  await withInterrupt(io, 'train: stopping after the current training step with a checkpoint (Ctrl-C again to quit at once, from the last checkpoint)', (signal) => trainCommand(args, io, signal));
}

async function trainCommand(args: readonly string[], io: Io, signal: AbortSignal): Promise<void> {
  const flags = parseCommandArgs('train', args, {
    backbone: { type: 'string' },
    weights: { type: 'string' },
    dataset: { type: 'string' },
    root: { type: 'string' },
    method: { type: 'string' },
    set: { type: 'string', multiple: true },
    'first-set': { type: 'string', multiple: true },
    'compress-keep': { type: 'string' },
    'compress-penalty': { type: 'string' },
    out: { type: 'string' },
    'train-split': { type: 'string' },
    'eval-split': { type: 'string' },
    'val-fraction': { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    optimizer: { type: 'string' },
    lr: { type: 'string' },
    'weight-decay': { type: 'string' },
    'warmup-epochs': { type: 'string' },
    schedule: { type: 'string' },
    'label-smoothing': { type: 'string' },
    seed: { type: 'string' },
    'micro-batch': { type: 'string' },
    recompute: { type: 'boolean' },
    family: { type: 'string' },
    'head-init': { type: 'string' },
    ...BACKEND_OPTION,
  });
  const family: BackboneFamily | undefined = flags.family === undefined ? undefined : choiceFlag('family', flags.family, BACKBONE_FAMILIES);
  const headInit: HeadInit | undefined = flags['head-init'] === undefined ? undefined : choiceFlag('head-init', flags['head-init'], HEAD_INITS);
  const dataset = datasetFlag('train', flags.dataset);
  const root = requireFlag('train', 'root', flags.root);
  const out = requireFlag('train', 'out', flags.out);
  const method = requireFlag('train', 'method', flags.method);
  const stages = findStages(method);
  // A variant's options (`--method 'sct[selection=random]'`), then --set's, which may not repeat them.
  const withFixed = (fixed: Record<string, OptionValue>, set: Record<string, OptionValue>, flag: string) => {
    for (const key of Object.keys(set)) if (Object.hasOwn(fixed, key)) throw new UsageError(`--${flag} ${key} is fixed by --method ${method}`);
    return { ...fixed, ...set };
  };
  const options = withFixed(stages.fixed.method, parseSetOptions(flags.set ?? []), 'set');
  const firstOptions = withFixed(stages.fixed.first, parseSetOptions(flags['first-set'] ?? []), 'first-set');
  if (stages.first === null && flags['first-set'] !== undefined) throw new UsageError('--first-set applies to a two-stage --method (second+first) only');
  const compressGiven = flags['compress-keep'] !== undefined || flags['compress-penalty'] !== undefined;
  const compress = compressGiven
    ? {
        keepFraction: numberFlag('compress-keep', flags['compress-keep'], VQT_COMPRESS.keepFraction, (v) => v > 0 && v <= 1, 'in (0, 1]'),
        penalty: numberFlag('compress-penalty', flags['compress-penalty'], VQT_COMPRESS.penalty, (v) => v >= 0, 'a non-negative number'),
      }
    : null;
  if (compress !== null && stages.method.definition !== VQT_DEFINITION) throw new UsageError(`--compress-keep compresses VQT's head (group lasso, VQT Sec. 3.3): --method ${stages.method.name} has none`);
  const epochs = integerFlag('epochs', flags.epochs, 1) ?? TRAIN_DEFAULTS.epochs;
  const batchSize = integerFlag('batch-size', flags['batch-size'], 1) ?? TRAIN_DEFAULTS.batchSize;
  const microBatchRequest = microBatchFlag(flags['micro-batch'], batchSize);
  const recompute = flags.recompute === true;
  checkRecompute(recompute, [stages.method, ...(stages.first === null ? [] : [stages.first])]);
  const seed = integerFlag('seed', flags.seed, 0) ?? 0;
  const optimizer = flags.optimizer ?? 'sgd';
  if (!['sgd', 'adamw', 'adam'].includes(optimizer)) throw new UsageError(`--optimizer must be one of sgd, adamw, adam, got ${JSON.stringify(optimizer)}`);
  const schedule = flags.schedule ?? 'cosine';
  if (!['cosine', 'constant'].includes(schedule)) throw new UsageError(`--schedule must be cosine or constant, got ${JSON.stringify(schedule)}`);
  const learningRate = numberFlag('lr', flags.lr, TRAIN_DEFAULTS.learningRate, (v) => v > 0, 'a positive number');
  const weightDecay = numberFlag('weight-decay', flags['weight-decay'], 0, (v) => v >= 0, 'a non-negative number');
  const warmupEpochs = integerFlag('warmup-epochs', flags['warmup-epochs'], 0) ?? 0;
  const labelSmoothing = numberFlag('label-smoothing', flags['label-smoothing'], 0, (v) => v >= 0 && v < 1, 'in [0, 1)');

  const valFraction = valFractionFlag(flags['val-fraction'], dataset);
  // Every flag is checked: from here on the output folder is this process's alone.
  await lockOutput(out, 'train', io);
  // An image folder with a validation split (val/ or --val-fraction) trains on 'train' and evaluates on 'val'.
  const protocol = dataset === 'image-folder' ? imageFolderProtocol(root, valFraction) : classificationProtocol(dataset);
  const splitOptions = { seed, ...(valFraction === undefined ? {} : { valFraction }) };
  const trainSplit = await loadClassificationSplit(dataset, root, flags['train-split'] ?? protocol.train, splitOptions);
  const evalSplitName = flags['eval-split'] ?? protocol.validation;
  const evalSplit = evalSplitName === null ? null : await loadClassificationSplit(dataset, root, evalSplitName, splitOptions);
  if (compress !== null && evalSplit === null) throw new UsageError('--compress-keep needs an evaluation split to score the compressed head (--eval-split)');
  // Every input is checked before anything is written to --out (a failure removes the folder the lock made): a batch the split
  // cannot fill, an image that does not decode, a damaged checkpoint.
  const batchRule = batchSizeRule(batchSize, trainSplit);
  if (batchRule !== null) throw new UsageError(`--batch-size ${batchRule}, got ${batchSize}`);
  const usedSplits = evalSplit === null ? [trainSplit] : [trainSplit, evalSplit];
  await checkSplitImages(root, usedSplits, `visual-peft-bench data --dataset ${dataset} --root ${root}`);
  const given = await resolveBackbone(requireFlag('train', 'backbone', flags.backbone), { numClasses: trainSplit.numClasses });
  const backend = await activateBackend(backendFlag(flags.backend), io);
  const weights = await weightsFlag('train', flags.weights, io);
  if (weights !== null) {
    const setups = [stages.method, ...(stages.first === null ? [] : [stages.first])].map((entry) => {
      const { config, head } = trainHead(entry.name, family, given, weights.stateDict, headInit);
      return { fcNorm: head.norm, globalPool: config.globalPool, fcNormLayer: config.fcNorm };
    });
    checkBackboneWeights(given, weights.stateDict, weights.source, setups);
  }
  // What the checkpoints in --out were trained from: a checkpoint or data swapped under the same names is refused on resume.
  const inputs = { weights: weights === null ? null : await checkpointSha256(weights.source), data: await dataFingerprint(root, usedSplits) };
  const microBatch = microBatchRequest === 'auto' ? { auto: await memoryBudget(backend) } : microBatchRequest;
  let chosen: MicroBatchChoice = { microBatch: batchSize, batchSize, auto: null };

  /** One stage's run into `dir`: checkpoints, tuned weights and its result. */
  const runStage = async (entry: MethodEntry, stageOptions: Record<string, OptionValue>, dir: string, frozen: FrozenStage | null, finalStage: boolean) => {
    const { config, head } = trainHead(entry.name, family, given, weights?.stateDict ?? null, headInit);
    await mkdir(dir, { recursive: true });
    const started = Date.now();
    // A two-stage run recomputes in the stage that back-propagates through the blocks only.
    const stageRecompute = recompute && trainsThroughBlocks(entry);
    return trainJob(
      {
        backbone: config,
        weights,
        method: entry,
        options: stageOptions,
        head,
        train: trainSplit,
        validation: evalSplit,
        pipelines: { train: protocol.trainPipeline, eval: protocol.evalPipeline },
        batchSize,
        seed,
        trainer: {
          epochs,
          optimizer: { kind: optimizer as 'sgd' | 'adamw' | 'adam', learningRate, weightDecay },
          schedule: schedule === 'cosine' ? { kind: 'cosine', warmupEpochs } : { kind: 'constant' },
          labelSmoothing,
        },
        outputDir: join(dir, 'checkpoints'),
        signal,
        // Each method's diagnostics after every epoch: the evaluation split's first batch as probe, the training split as labelled source.
        ...(evalSplit === null ? {} : { diagnostics: { images: evalSplit, source: trainSplit } }),
        ...(microBatch === undefined ? {} : { microBatch }),
        ...(frozen === null ? {} : { frozen }),
        inputs,
        recompute: stageRecompute,
        onMicroBatch: (choice) => {
          chosen = choice;
          if (microBatch !== undefined) io.stderr(`train: ${describeMicroBatch(choice)}`);
        },
        onProgress: (event) => {
          if (event.type !== 'epoch') return;
          const evaluation = event.evaluation === null ? '' : `, top-1 ${(100 * event.evaluation.top1).toFixed(2)}%`;
          io.stderr(`${finalStage ? '' : 'stage 1, '}epoch ${event.epoch + 1}/${event.epochs}: train loss ${event.trainLoss.toFixed(4)}${evaluation}`);
        },
      },
      async ({ model, methods, trainer, result, evalSource }) => {
        if (result.status === 'stopped') {
          // The trainer checkpointed the step it stopped after: a rerun goes on from there.
          throw new InterruptedError(`train: stopped after step ${result.steps} (${finalStage ? '' : 'stage 1, '}epoch ${Math.min(result.epochsCompleted + 1, epochs)}/${epochs}), checkpointed in ${join(dir, 'checkpoints')}: run the same command again to resume`);
        }
        const runInfo = tunedRunInfo(trainSplit, weights, seed, head);
        await saveTunedWeights(join(dir, 'tuned.safetensors'), model, methods, runInfo);
        const last = result.history.at(-1)?.evaluation ?? null;
        let compression = null;
        if (compress !== null && finalStage) {
          // VQT Sec. 3.3: with the queries frozen, a head refitted on the features group lasso keeps (the training split, no augmentation).
          const vqt = methods.find((method) => method instanceof VqtMethod)!;
          const fit = await compressWithGroupLasso(vqt, evalSource(trainSplit), { ...compress, seed });
          const after = await trainer.evaluate(evalSource(evalSplit!));
          await saveTunedWeights(join(dir, 'tuned.safetensors'), model, methods, runInfo);
          compression = { ...compress, featuresBefore: fit.featuresBefore, featuresAfter: fit.featuresAfter, top1Before: last?.top1 ?? null, top1After: after.top1 };
        }
        return {
          method: entry.name,
          options: stageOptions,
          // The backbone family as asked (null: the config as given) and the classifier it trained.
          family: family ?? null,
          head: { pool: config.globalPool, ...head },
          dataset,
          // The checkpoint's SHA-256 and the data's fingerprint it trained on.
          inputs,
          trainSplit: trainSplit.split,
          evalSplit: evalSplit?.split ?? null,
          epochs,
          status: result.status,
          resumedFrom: result.resumedFrom,
          top1: compression?.top1After ?? last?.top1 ?? null,
          perClassAccuracy: compression === null ? (last?.perClassAccuracy ?? null) : null,
          // Each class's top-1 on the evaluation split by name (its label where the dataset names none); null: no image of it there.
          classAccuracy: compression === null && last !== null ? Object.fromEntries(last.classAccuracy.map((accuracy, label) => [trainSplit.classNames?.[label] ?? String(label), accuracy])) : null,
          loss: compression === null ? (last?.loss ?? null) : null,
          bestEpoch: result.best?.epoch ?? null,
          bestTop1: result.best?.evaluation.top1 ?? null,
          parameters: countParameters(model, methods),
          diagnostics: recordedDiagnostics(result.history, result.initialDiagnostics),
          ...(compression === null ? {} : { compression }),
          // How the batches ran: they change the time, not the result.
          microBatch: chosen.microBatch,
          recompute: stageRecompute,
          seconds: (Date.now() - started) / 1000,
          environment: runEnvironment(backend),
        };
      },
    );
  };

  let summary: Record<string, unknown>;
  if (stages.first === null) {
    summary = await runStage(stages.method, options, out, null, true);
  } else {
    // Stage 1 to completion (resumable from its checkpoints), kept in <out>/stage1; its result marks it done.
    const firstDir = join(out, 'stage1');
    const firstResult = join(firstDir, 'result.json');
    let first: Awaited<ReturnType<typeof runStage>>;
    try {
      first = JSON.parse(await readFile(firstResult, 'utf8')) as typeof first;
    } catch {
      first = await runStage(stages.first, firstOptions, firstDir, null, false);
      await writeFileAtomic(firstResult, `${JSON.stringify(first, null, 2)}\n`);
    }
    // A finished first stage is reused only on the inputs it was tuned on (the second stage's checkpoints check their own).
    const changed = firstDifference({ inputs: first.inputs ?? null }, { inputs }, '', STORE_LABELS);
    if (changed !== null) throw new FormatError(firstResult, `the first stage was tuned on other inputs (${changed}); train into a new --out`);
    const second = await runStage(stages.method, options, out, { method: stages.first, options: firstOptions, weights: join(firstDir, 'tuned.safetensors') }, true);
    const { parameters: p1 } = first;
    const { parameters: p2 } = second;
    summary = {
      ...second,
      method: `${stages.method.name}+${stages.first.name}`,
      firstStage: first,
      // Both stages, the backbone once: extra = the modules the final model adds, trainable = what the two stages trained (each one's head included).
      parameters: { total: p2.total + p1.extra, trainable: p1.trainable + p2.trainable, extra: p1.extra + p2.extra, trainableBackbone: p1.trainableBackbone + p2.trainableBackbone },
      seconds: first.seconds + second.seconds,
    };
  }
  await writeFileAtomic(join(out, 'result.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const classAccuracy = summary.classAccuracy as Record<string, number | null> | null;
  if (classAccuracy !== null && typeof summary.top1 === 'number') {
    const percent = (value: number | null) => (value === null ? 'no images' : `${(100 * value).toFixed(2)}%`);
    io.stderr(`${summary.evalSplit as string}: top-1 ${percent(summary.top1)}; per class: ${Object.entries(classAccuracy).map(([name, accuracy]) => `${name} ${percent(accuracy)}`).join(', ')}`);
  }
  io.stdout(JSON.stringify(summary));
}

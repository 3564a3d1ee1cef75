import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { classificationProtocol, isDatasetName, loadClassificationSplit, DATASET_NAMES } from '@visual-peft/datasets';
import { saveTunedWeights } from '@visual-peft/training';
import type { HeadInit, StateDict, VitConfig } from '@visual-peft/vit-core';
import { countParameters, readCheckpoint, writeFileAtomic } from '@visual-peft/vit-core';
import { activateBackend } from '../activate-backend';
import { runEnvironment } from '../environment';
import { BACKEND_OPTION, backendFlag, integerFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import type { MicroBatchChoice } from '../step/micro-batch';
import { describeMicroBatch, memoryBudget, microBatchFlag } from '../step/micro-batch';
import { METHODS, findMethod } from '../methods';
import { parseSetOptions } from '../set-options';
import { parseVariant } from '../suite/variants';
import type { BackboneFamily } from '../suite/recipes';
import { BACKBONE_FAMILIES, RECIPES, classifierSetup } from '../suite/recipes';
import type { HeadSetup } from '../train-job';
import { recordedDiagnostics, trainJob } from '../train-job';

export const TRAIN_USAGE =
  'train --backbone <preset | config.json> [--weights <checkpoint>] [--family supervised|mae|moco-v3] [--head-init timm|vpt|torch|zeros] --dataset <name> --root <dir> --method <name> [--set key=value ...] --out <dir> ' +
  '[--train-split S] [--eval-split S] [--epochs 10] [--batch-size 32] [--optimizer sgd|adamw|adam] [--lr 0.01] [--weight-decay 0] ' +
  '[--warmup-epochs 0] [--schedule cosine|constant] [--label-smoothing 0] [--seed 0] [--micro-batch N|auto] [--recompute] [--backend auto|tensorflow|wasm|cpu]';

function numberFlag(name: string, value: string | undefined, fallback: number, rule: (value: number) => boolean, description: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !rule(parsed)) throw new UsageError(`--${name} must be ${description}, got ${JSON.stringify(value)}`);
  return parsed;
}

const HEAD_INITS: readonly HeadInit[] = ['timm', 'vpt', 'torch', 'zeros'];

/** MAE's released layout: its pretraining encoder ends in the final `norm` and has no `fc_norm` (nor a head). */
function hasMaeLayout(stateDict: StateDict): boolean {
  return stateDict.has('norm.weight') && !stateDict.has('fc_norm.weight');
}

/**
 * The classifier of a `train` run. With `--family`, the one the method's official code builds on
 * that family (its recipe's head; the pooling overrides the config's). Without it, the config's
 * pooling as given and the method's supervised head; an average-pooled config loads an MAE-layout
 * checkpoint's final `norm` after the pooled mean, as GatedPT and SPT read MAE. `--head-init`
 * replaces the init (e.g. SPT's timm head on `vpt-shallow --set init=kmeans`).
 */
function trainHead(method: string, family: BackboneFamily | undefined, config: VitConfig, stateDict: StateDict | null, headInit: HeadInit | undefined): { config: VitConfig; head: HeadSetup } {
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
 * again resumes), the tuned weights (`tuned.safetensors`) and the result (`result.json`), which is
 * also printed as one JSON line.
 */
export async function train(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('train', args, {
    backbone: { type: 'string' },
    weights: { type: 'string' },
    dataset: { type: 'string' },
    root: { type: 'string' },
    method: { type: 'string' },
    set: { type: 'string', multiple: true },
    out: { type: 'string' },
    'train-split': { type: 'string' },
    'eval-split': { type: 'string' },
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
  const family = flags.family as BackboneFamily | undefined;
  if (family !== undefined && !BACKBONE_FAMILIES.includes(family)) throw new UsageError(`--family must be one of ${BACKBONE_FAMILIES.join(', ')}, got ${JSON.stringify(family)}`);
  const headInit = flags['head-init'] as HeadInit | undefined;
  if (headInit !== undefined && !HEAD_INITS.includes(headInit)) throw new UsageError(`--head-init must be one of ${HEAD_INITS.join(', ')}, got ${JSON.stringify(headInit)}`);
  const dataset = requireFlag('train', 'dataset', flags.dataset);
  if (!isDatasetName(dataset)) throw new UsageError(`--dataset must be one of ${DATASET_NAMES.join(', ')}, got ${JSON.stringify(dataset)}`);
  const root = requireFlag('train', 'root', flags.root);
  const out = requireFlag('train', 'out', flags.out);
  const method = requireFlag('train', 'method', flags.method);
  // `--method 'sct[selection=random]'`: the name's options, then --set's, which may not repeat them.
  const variant = method.includes('[') ? parseVariant(method, [...METHODS.keys()]) : { base: method, options: {} };
  const entry = findMethod(variant.base);
  const set = parseSetOptions(flags.set ?? []);
  for (const key of Object.keys(set)) if (Object.hasOwn(variant.options, key)) throw new UsageError(`--set ${key} is fixed by --method ${method}`);
  const options = { ...variant.options, ...set };
  const epochs = integerFlag('epochs', flags.epochs, 1) ?? 10;
  const batchSize = integerFlag('batch-size', flags['batch-size'], 1) ?? 32;
  const microBatchRequest = microBatchFlag(flags['micro-batch'], batchSize);
  const recompute = flags.recompute === true;
  const seed = integerFlag('seed', flags.seed, 0) ?? 0;
  const optimizer = flags.optimizer ?? 'sgd';
  if (!['sgd', 'adamw', 'adam'].includes(optimizer)) throw new UsageError(`--optimizer must be one of sgd, adamw, adam, got ${JSON.stringify(optimizer)}`);
  const schedule = flags.schedule ?? 'cosine';
  if (!['cosine', 'constant'].includes(schedule)) throw new UsageError(`--schedule must be cosine or constant, got ${JSON.stringify(schedule)}`);
  const learningRate = numberFlag('lr', flags.lr, 0.01, (v) => v > 0, 'a positive number');
  const weightDecay = numberFlag('weight-decay', flags['weight-decay'], 0, (v) => v >= 0, 'a non-negative number');
  const warmupEpochs = integerFlag('warmup-epochs', flags['warmup-epochs'], 0) ?? 0;
  const labelSmoothing = numberFlag('label-smoothing', flags['label-smoothing'], 0, (v) => v >= 0 && v < 1, 'in [0, 1)');

  const protocol = classificationProtocol(dataset);
  const trainSplit = await loadClassificationSplit(dataset, root, flags['train-split'] ?? protocol.train, { seed });
  const evalSplitName = flags['eval-split'] ?? protocol.validation;
  const evalSplit = evalSplitName === null ? null : await loadClassificationSplit(dataset, root, evalSplitName, { seed });
  const given = await resolveBackbone(requireFlag('train', 'backbone', flags.backbone), { numClasses: trainSplit.numClasses });
  const backend = await activateBackend(backendFlag(flags.backend), io);
  if (flags.weights === undefined) io.stderr('train: no --weights given: the backbone is randomly initialised, not pretrained');
  const weights = flags.weights === undefined ? null : { source: flags.weights, stateDict: (await readCheckpoint(flags.weights)).stateDict };
  const { config, head } = trainHead(entry.name, family, given, weights?.stateDict ?? null, headInit);
  const microBatch = microBatchRequest === 'auto' ? { auto: await memoryBudget(backend) } : microBatchRequest;
  let chosen: MicroBatchChoice = { microBatch: batchSize, batchSize, auto: null };

  await mkdir(out, { recursive: true });
  const started = Date.now();
  const summary = await trainJob(
    {
      backbone: config,
      weights,
      method: entry,
      options,
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
      outputDir: join(out, 'checkpoints'),
      // Each method's diagnostics after every epoch: the evaluation split's first batch as probe, the training split as labelled source.
      ...(evalSplit === null ? {} : { diagnostics: { images: evalSplit, source: trainSplit } }),
      ...(microBatch === undefined ? {} : { microBatch }),
      recompute,
      onMicroBatch: (choice) => {
        chosen = choice;
        if (microBatch !== undefined) io.stderr(`train: ${describeMicroBatch(choice)}`);
      },
      onProgress: (event) => {
        if (event.type !== 'epoch') return;
        const evaluation = event.evaluation === null ? '' : `, top-1 ${(100 * event.evaluation.top1).toFixed(2)}%`;
        io.stderr(`epoch ${event.epoch + 1}/${event.epochs}: train loss ${event.trainLoss.toFixed(4)}${evaluation}`);
      },
    },
    async ({ model, methods, result }) => {
      await saveTunedWeights(join(out, 'tuned.safetensors'), model, methods);
      const last = result.history.at(-1)?.evaluation ?? null;
      return {
        method: entry.name,
        options,
        // The backbone family as asked (null: the config as given) and the classifier it trained.
        family: family ?? null,
        head: { pool: config.globalPool, ...head },
        dataset,
        trainSplit: trainSplit.split,
        evalSplit: evalSplit?.split ?? null,
        epochs,
        status: result.status,
        resumedFrom: result.resumedFrom,
        top1: last?.top1 ?? null,
        perClassAccuracy: last?.perClassAccuracy ?? null,
        loss: last?.loss ?? null,
        bestEpoch: result.best?.epoch ?? null,
        bestTop1: result.best?.evaluation.top1 ?? null,
        parameters: countParameters(model, methods),
        diagnostics: recordedDiagnostics(result.history, result.initialDiagnostics),
        // How the batches ran: they change the time, not the result.
        microBatch: chosen.microBatch,
        recompute,
        seconds: (Date.now() - started) / 1000,
        environment: runEnvironment(backend),
      };
    },
  );
  await writeFileAtomic(join(out, 'result.json'), `${JSON.stringify(summary, null, 2)}\n`);
  io.stdout(JSON.stringify(summary));
}

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChannelImportance, ChannelScore, TuningPosition } from '@visual-peft/channel-tuning';
import { computeChannelImportance, runChannelDeletionTest } from '@visual-peft/channel-tuning';
import type { ClassificationSplit, DatasetBatchSource } from '@visual-peft/datasets';
import { classificationProtocol, createBatchSource, loadClassificationSplit, pipelinePreset } from '@visual-peft/datasets';
import { evaluate, loadTunedWeights, saveTunedWeights } from '@visual-peft/training';
import { VisionTransformer, loadStateDict, writeFileAtomic } from '@visual-peft/vit-core';
import { activateBackend } from '../activate-backend';
import { BACKEND_OPTION, backendFlag, choiceFlag, datasetFlag, integerFlag, numberFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone, weightsFlag } from '../backbone';
import { runEnvironment } from '../environment';
import { InterruptedError, UsageError } from '../errors';
import { withInterrupt } from '../interrupt';
import type { Io } from '../io';
import { lockOutput } from '../output-lock';
import { findMethod, methodDefinitions } from '../methods';
import { trainJob, tunedRunInfo } from '../train-job';
import { TRAIN_DEFAULTS, trainHead } from './train';

export const DELETION_USAGE =
  'deletion --backbone <preset | config.json> [--weights <checkpoint>] --dataset <name> --root <dir> --k <K> --out <dir> [--position attn|mlp] [--score class-aware|dataset] ' +
  '[--blocks 0,1,...] [--epochs 10] [--lr 0.01] [--tuned <tuned.safetensors>] [--train-split S] [--eval-split S] [--batch-size 32] [--seed 0] [--backend auto|tensorflow|wasm|cpu]';

const POSITIONS: readonly TuningPosition[] = ['attn', 'mlp'];
const SCORES: readonly ChannelScore[] = ['class-aware', 'dataset'];

/** `--blocks 0,3,11`: distinct block indices of the backbone, in the order given. */
function blocksFlag(value: string | undefined, depth: number): number[] | undefined {
  if (value === undefined) return undefined;
  const blocks = value.split(',').map(Number);
  const valid = value.trim() !== '' && blocks.every((block) => Number.isInteger(block) && block >= 0 && block < depth) && new Set(blocks).size === blocks.length;
  if (!valid) throw new UsageError(`--blocks must be distinct block indices in [0, ${depth - 1}] separated by commas, got ${JSON.stringify(value)}`);
  return blocks;
}

export interface DeletionMeasurement {
  /** Top-1 on the evaluation split with nothing deleted. */
  readonly baseline: number;
  readonly rows: readonly { readonly block: number; readonly salientDeleted: number; readonly randomDeleted: number }[];
  readonly importance: ChannelImportance;
}

/**
 * SCT's channel deletion test (Sec. 3.4, Fig. 5) on a model with its classifier: the importance of
 * every channel on the training split, then per block the evaluation split's top-1 with the K most
 * salient channels zeroed and with K random ones zeroed, beside the top-1 with nothing zeroed.
 * Aborted, it stops before its next evaluation with an `InterruptedError` (nothing of it is kept).
 */
async function measureDeletion(
  model: VisionTransformer,
  sources: { readonly train: DatasetBatchSource; readonly eval: DatasetBatchSource },
  options: { readonly k: number; readonly position: TuningPosition; readonly score: ChannelScore; readonly numClasses: number; readonly blocks: readonly number[] | undefined; readonly seed: number },
  signal: AbortSignal,
  io: Io,
): Promise<DeletionMeasurement> {
  io.stderr(`deletion: scoring the channels on the training split, then deleting ${options.k} per block on the evaluation split`);
  const importance = await computeChannelImportance(model, sources.train, { position: options.position, score: options.score, numClasses: options.numClasses });
  const top1 = async (evaluated: VisionTransformer) => {
    if (signal.aborted) throw new InterruptedError('deletion: stopped during the channel deletion test, which starts over: run the same command again to finish');
    return (await evaluate(evaluated, sources.eval)).top1;
  };
  const baseline = await top1(model);
  const rows = await runChannelDeletionTest(model, { importance, k: options.k, evaluate: top1, seed: options.seed, ...(options.blocks === undefined ? {} : { blocks: options.blocks }) });
  return { baseline, rows, importance };
}

const percent = (value: number) => (100 * value).toFixed(2);

/**
 * SCT's channel deletion test from the command line. Trains a linear probe on the backbone with
 * `train`'s trainer and defaults (checkpoints in `<out>/checkpoints`, so a rerun resumes; the probe
 * in `<out>/tuned.safetensors`), or loads a tuned model with `--tuned` (any `train` output); then
 * scores the channels on the training split through the evaluation pipeline and deletes them per
 * block on the evaluation split. Prints a Markdown table and writes `<out>/deletion.json`. Ctrl-C
 * stops the probe after its current step with a checkpoint, or the test before its next evaluation
 * (exit 130); a rerun resumes the probe and runs the test again.
 */
export async function deletion(args: readonly string[], io: Io): Promise<void> {
  await withInterrupt(io, 'deletion: stopping after the current training step or evaluation (Ctrl-C again to quit at once, from the last checkpoint)', (signal) => deletionCommand(args, io, signal));
}

async function deletionCommand(args: readonly string[], io: Io, signal: AbortSignal): Promise<void> {
  const flags = parseCommandArgs('deletion', args, {
    backbone: { type: 'string' },
    weights: { type: 'string' },
    dataset: { type: 'string' },
    root: { type: 'string' },
    k: { type: 'string' },
    position: { type: 'string' },
    score: { type: 'string' },
    blocks: { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    tuned: { type: 'string' },
    out: { type: 'string' },
    'train-split': { type: 'string' },
    'eval-split': { type: 'string' },
    'batch-size': { type: 'string' },
    seed: { type: 'string' },
    ...BACKEND_OPTION,
  });
  const dataset = datasetFlag('deletion', flags.dataset);
  const root = requireFlag('deletion', 'root', flags.root);
  const out = requireFlag('deletion', 'out', flags.out);
  const backboneFlag = requireFlag('deletion', 'backbone', flags.backbone);
  const k = integerFlag('k', requireFlag('deletion', 'k', flags.k), 1)!;
  const position = choiceFlag('position', flags.position ?? 'attn', POSITIONS);
  const score = choiceFlag('score', flags.score ?? 'class-aware', SCORES);
  const tuned = flags.tuned;
  for (const probeFlag of ['epochs', 'lr'] as const) {
    if (tuned !== undefined && flags[probeFlag] !== undefined) throw new UsageError(`--${probeFlag} trains the linear probe, and --tuned ${tuned} replaces it: give one of them`);
  }
  const epochs = integerFlag('epochs', flags.epochs, 1) ?? TRAIN_DEFAULTS.epochs;
  const learningRate = numberFlag('lr', flags.lr, TRAIN_DEFAULTS.learningRate, (v) => v > 0, 'a positive number');
  const batchSize = integerFlag('batch-size', flags['batch-size'], 1) ?? TRAIN_DEFAULTS.batchSize;
  const seed = integerFlag('seed', flags.seed, 0) ?? 0;

  await lockOutput(out, 'deletion', io);
  const protocol = classificationProtocol(dataset);
  const evalSplitName = flags['eval-split'] ?? protocol.validation;
  if (evalSplitName === null) throw new UsageError(`--eval-split is required: ${dataset} has no validation split to run the deletion test on`);
  const trainSplit = await loadClassificationSplit(dataset, root, flags['train-split'] ?? protocol.train, { seed });
  const evalSplit = await loadClassificationSplit(dataset, root, evalSplitName, { seed });
  const given = await resolveBackbone(backboneFlag, { numClasses: trainSplit.numClasses });
  if (k > given.embedDim) throw new UsageError(`--k must be at most the backbone's ${given.embedDim} channels, got ${JSON.stringify(flags.k)}`);
  const blocks = blocksFlag(flags.blocks, given.depth);
  const backend = await activateBackend(backendFlag(flags.backend), io);
  const weights = await weightsFlag('deletion', flags.weights, io);
  // The probe's classifier as `train --method linear` builds it.
  const { config, head } = trainHead('linear', undefined, given, weights?.stateDict ?? null, undefined);
  await mkdir(out, { recursive: true });
  const started = Date.now();
  const options = { k, position, score, numClasses: trainSplit.numClasses, blocks, seed };

  let measured: DeletionMeasurement;
  if (tuned === undefined) {
    const linear = findMethod('linear');
    measured = await trainJob(
      {
        backbone: config,
        weights,
        method: linear,
        options: {},
        head,
        train: trainSplit,
        // The baseline is measured below, beside the deletions, on the same evaluator.
        validation: null,
        pipelines: { train: protocol.trainPipeline, eval: protocol.evalPipeline },
        batchSize,
        seed,
        trainer: { epochs, optimizer: { kind: 'sgd', learningRate, weightDecay: 0 }, schedule: { kind: 'cosine', warmupEpochs: 0 } },
        outputDir: join(out, 'checkpoints'),
        signal,
        onProgress: (event) => {
          if (event.type === 'epoch') io.stderr(`probe epoch ${event.epoch + 1}/${event.epochs}: train loss ${event.trainLoss.toFixed(4)}`);
        },
      },
      async ({ model, methods, evalSource, result }) => {
        // The trainer checkpointed the step it stopped after: a rerun goes on from there.
        if (result.status === 'stopped') {
          throw new InterruptedError(`deletion: stopped after step ${result.steps} (probe epoch ${Math.min(result.epochsCompleted + 1, epochs)}/${epochs}), checkpointed in ${join(out, 'checkpoints')}: run the same command again to resume`);
        }
        await saveTunedWeights(join(out, 'tuned.safetensors'), model, methods, tunedRunInfo(trainSplit, weights, seed, head));
        return measureDeletion(model, { train: evalSource(trainSplit), eval: evalSource(evalSplit) }, options, signal, io);
      },
    );
  } else {
    // The backbone as `trainJob` builds it (same seed for a random one), then the tuned head and methods.
    const model = new VisionTransformer(config, { seed, weights: weights === null ? 'random' : 'zeros' });
    const definitions = methodDefinitions();
    let methods: Awaited<ReturnType<typeof loadTunedWeights>> = [];
    try {
      if (weights !== null) loadStateDict(model, weights.stateDict, { source: weights.source, head: 'discard', fcNorm: head.norm });
      methods = await loadTunedWeights(tuned, model, definitions);
      const pipeline = pipelinePreset(protocol.evalPipeline, { imageSize: config.imgSize[0] });
      const source = (split: ClassificationSplit) => createBatchSource(split, { batchSize, seed, pipeline });
      measured = await measureDeletion(model, { train: source(trainSplit), eval: source(evalSplit) }, options, signal, io);
    } finally {
      methods.forEach((method) => method.dispose());
      model.dispose();
    }
  }

  const { baseline, rows, importance } = measured;
  const result = {
    dataset,
    trainSplit: trainSplit.split,
    evalSplit: evalSplit.split,
    backbone: backboneFlag,
    weights: weights?.source ?? null,
    // Where the classifier came from: a probe trained here (its epochs), or a tuned file.
    probe: tuned === undefined ? { trained: true, epochs, learningRate, tuned: null } : { trained: false, epochs: null, learningRate: null, tuned },
    k,
    position,
    score: importance.score,
    seed,
    evalImages: evalSplit.examples.length,
    baseline,
    rows: rows.map((row) => ({ ...row, baseline })),
    seconds: (Date.now() - started) / 1000,
    environment: runEnvironment(backend),
  };
  await writeFileAtomic(join(out, 'deletion.json'), `${JSON.stringify(result, null, 2)}\n`);
  io.stdout(`| block | top-1, ${k} salient channels deleted (%) | top-1, ${k} random channels deleted (%) | baseline top-1 (%) |`);
  io.stdout('|---:|---:|---:|---:|');
  for (const row of rows) io.stdout(`| ${row.block} | ${percent(row.salientDeleted)} | ${percent(row.randomDeleted)} | ${percent(baseline)} |`);
}

import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { VisionTransformer, getStateDict, resolveVitConfig, saveCheckpoint, writeFileAtomic } from '@visual-peft/vit-core';
import { activateBackend } from '../activate-backend';
import { BACKEND_OPTION, backendFlag, integerFlag, numberFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { DEMO_DATA_DIR } from '../demo-assets';
import { runEnvironment } from '../environment';
import { loadDemoTask, loadPretrainData } from '../demo/demo-tasks';
import { InterruptedError, UsageError } from '../errors';
import { withInterrupt } from '../interrupt';
import type { Io } from '../io';
import { lockOutput } from '../output-lock';
import { DEFAULT_LINEAR_PROBE, linearProbe } from '../pretrain/linear-probe';
import { pretrainMae } from '../pretrain/pretrain-mae';
import type { PretrainKind, PretrainRecipe } from '../pretrain/pretrain-recipe';
import { DEMO_VIT_CONFIG, PRETRAIN_KINDS, defaultRecipe } from '../pretrain/pretrain-recipe';
import { pretrainSupervised } from '../pretrain/pretrain-supervised';

export const PRETRAIN_USAGE =
  'pretrain --kind mae|supervised --out <dir> [--epochs N] [--batch-size N] [--lr X] [--seed N] [--data <fashion-mnist dir>] ' +
  '[--backbone config.json] [--checkpoints <dir>] [--probe-epochs 30 (0: no probe)] [--backend auto|tensorflow|wasm|cpu]';

function positiveNumber(name: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : numberFlag(name, value, 0, (parsed) => parsed > 0, 'a positive number');
}

/**
 * Pretrains the demo's small ViT on Fashion-MNIST's classes 0-4 (the committed subset, or the full
 * release with --data), by MAE or with labels, and writes `<out>/model.safetensors` (timm's names;
 * load it with the head discarded), `<out>/config.json` and `<out>/recipe.json` (every
 * hyperparameter, the data, final losses, wall time, backend, and a linear probe on fmnist-unseen
 * against the same backbone at random initialisation). Killed, it resumes from `--checkpoints`;
 * Ctrl-C stops it after the current step with a checkpoint of that step (exit 130).
 */
export async function pretrain(args: readonly string[], io: Io): Promise<void> {
  await withInterrupt(io, 'pretrain: stopping after the current training step with a checkpoint (Ctrl-C again to quit at once, from the last checkpoint)', (signal) => pretrainCommand(args, io, signal));
}

async function pretrainCommand(args: readonly string[], io: Io, signal: AbortSignal): Promise<void> {
  const flags = parseCommandArgs('pretrain', args, {
    kind: { type: 'string' },
    out: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    data: { type: 'string' },
    backbone: { type: 'string' },
    checkpoints: { type: 'string' },
    'probe-epochs': { type: 'string' },
    ...BACKEND_OPTION,
  });
  const kind = requireFlag('pretrain', 'kind', flags.kind);
  if (!(PRETRAIN_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${PRETRAIN_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  const out = resolve(requireFlag('pretrain', 'out', flags.out));
  const defaults = defaultRecipe(kind as PretrainKind);
  const learningRate = positiveNumber('lr', flags.lr) ?? defaults.optimizer.learningRate;
  const epochs = integerFlag('epochs', flags.epochs, 1) ?? defaults.epochs;
  const recipe: PretrainRecipe = {
    ...defaults,
    epochs,
    batchSize: integerFlag('batch-size', flags['batch-size'], 1) ?? defaults.batchSize,
    optimizer: { ...defaults.optimizer, learningRate },
    // A shorter run keeps at most a tenth of its epochs for the warm-up.
    schedule: { ...defaults.schedule, warmupEpochs: Math.min(defaults.schedule.warmupEpochs, Math.floor(epochs / 10)) },
    seed: integerFlag('seed', flags.seed, 0) ?? defaults.seed,
  };
  const probeEpochs = integerFlag('probe-epochs', flags['probe-epochs'], 0) ?? DEFAULT_LINEAR_PROBE.epochs;
  const dataDir = resolve(flags.data ?? DEMO_DATA_DIR);
  const checkpointDir = resolve(flags.checkpoints ?? join(out, 'checkpoints'));
  const baseConfig = flags.backbone === undefined ? resolveVitConfig(DEMO_VIT_CONFIG) : await resolveBackbone(flags.backbone, { numClasses: 0 });

  await lockOutput(out, 'pretrain', io);
  // --checkpoints outside --out is written too: it gets a lock of its own.
  const inside = relative(out, checkpointDir);
  if (inside.startsWith('..') || isAbsolute(inside)) await lockOutput(checkpointDir, 'pretrain', io);
  const data = await loadPretrainData(dataDir);
  const unseen = probeEpochs > 0 ? await loadDemoTask('fmnist-unseen', { root: dataDir }) : null;
  const backend = await activateBackend(backendFlag(flags.backend), io);
  const config = resolveVitConfig({ ...baseConfig, numClasses: recipe.kind === 'supervised' ? data.train.numClasses : 0 });
  await mkdir(out, { recursive: true });

  const started = performance.now();
  const model = new VisionTransformer(config, { seed: recipe.seed });
  try {
    let outcome: Record<string, unknown>;
    // The run checkpointed the step it stopped after (none before its first): a rerun goes on from there.
    const stopped = (steps: number, epochsCompleted: number) =>
      new InterruptedError(
        steps === 0
          ? 'pretrain: stopped before its first step, so nothing was checkpointed: run the same command again to start'
          : `pretrain: stopped after step ${steps} (epoch ${Math.min(epochsCompleted + 1, recipe.epochs)}/${recipe.epochs}), checkpointed in ${checkpointDir}: run the same command again to resume`,
      );
    if (recipe.kind === 'mae') {
      const result = await pretrainMae(model, recipe, data.train, {
        checkpointDir,
        signal,
        onEpoch: (epoch, epochs) => io.stderr(`pretrain mae: epoch ${epoch.epoch + 1}/${epochs}: reconstruction loss ${epoch.loss.toFixed(4)} (${epoch.seconds.toFixed(1)} s)`),
      });
      if (result.status === 'stopped') throw stopped(result.steps, result.history.length);
      outcome = { resumedFrom: result.resumedFrom, firstLoss: result.history[0]!.loss, finalLoss: result.history.at(-1)!.loss, history: result.history };
    } else {
      const result = await pretrainSupervised(model, recipe, data.train, data.test, {
        checkpointDir,
        signal,
        onEpoch: (epoch, epochs) =>
          io.stderr(`pretrain supervised: epoch ${epoch.epoch + 1}/${epochs}: train loss ${epoch.trainLoss.toFixed(4)}, validation top-1 ${(100 * (epoch.evaluation?.top1 ?? 0)).toFixed(2)}%`),
      });
      if (result.status === 'stopped') throw stopped(result.steps, result.epochsCompleted);
      const last = result.history.at(-1)!;
      outcome = {
        resumedFrom: result.resumedFrom,
        firstLoss: result.history[0]!.trainLoss,
        finalLoss: last.trainLoss,
        finalValidationLoss: last.evaluation?.loss ?? null,
        finalValidationTop1: last.evaluation?.top1 ?? null,
        history: result.history.map((epoch) => ({ epoch: epoch.epoch, trainLoss: epoch.trainLoss, validationLoss: epoch.evaluation?.loss ?? null, validationTop1: epoch.evaluation?.top1 ?? null })),
      };
    }
    const pretrainSeconds = (performance.now() - started) / 1000;
    let probe: Record<string, unknown> | null = null;
    if (unseen !== null) {
      const settings = { ...DEFAULT_LINEAR_PROBE, epochs: probeEpochs };
      const splits = { train: unseen.train800val200, test: unseen.test };
      const pretrained = await linearProbe(config, getStateDict(model), splits, settings, signal);
      const randomInit = pretrained === null ? null : await linearProbe(config, null, splits, settings, signal);
      if (pretrained === null || randomInit === null) {
        throw new InterruptedError(`pretrain: stopped during the linear probe; the pretraining is finished and checkpointed in ${checkpointDir}: run the same command again to write its outputs (the probe starts over)`);
      }
      probe = { task: 'fmnist-unseen', train: 'train800val200', test: `test (${unseen.test.examples.length} images)`, settings, pretrainedTop1: pretrained.top1, randomInitTop1: randomInit.top1 };
      io.stderr(`pretrain ${recipe.kind}: linear probe on fmnist-unseen: pretrained ${(100 * pretrained.top1).toFixed(2)}%, random init ${(100 * randomInit.top1).toFixed(2)}%`);
    }
    const recipeRecord = {
      kind: recipe.kind,
      recipe,
      backbone: config,
      data: {
        dir: flags.data === undefined ? 'apps/benchmark/demo/data (committed subset)' : dataDir,
        classes: data.train.classNames,
        trainImages: data.train.examples.length,
        validationImages: recipe.kind === 'supervised' ? data.test.examples.length : null,
        pipeline: `vtab preset at ${config.imgSize[0]}x${config.imgSize[1]} (grayscale replicated to RGB, ImageNet normalisation)`,
      },
      ...outcome,
      pretrainSeconds,
      probe,
      environment: runEnvironment(backend),
    };
    // The weights last: a directory with model.safetensors is a finished one.
    await writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    await writeFileAtomic(join(out, 'recipe.json'), `${JSON.stringify(recipeRecord, null, 2)}\n`);
    await saveCheckpoint(model, join(out, 'model.safetensors'), { kind: recipe.kind });
    io.stdout(JSON.stringify({ kind: recipe.kind, out, finalLoss: outcome.finalLoss, pretrainSeconds, probe }));
  } finally {
    model.dispose();
  }
}

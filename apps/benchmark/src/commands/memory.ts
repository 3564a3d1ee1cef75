import * as tf from '@tensorflow/tfjs-core';
import { Trainer } from '@visual-peft/training';
import type { ImageBatch } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, countParameters } from '@visual-peft/vit-core';
import { activateBackend } from '../activate-backend';
import { BACKEND_OPTION, backendFlag, integerFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { buildMethod, findMethod, trainingForwardFor } from '../methods';
import { syntheticBatch, syntheticSource } from '../synthetic-data';

export const MEMORY_USAGE = 'memory --backbone <preset | config.json> --methods <name,name,...> [--batch 8] [--classes 100] [--backend auto|tensorflow|wasm|cpu]';

export interface MemoryRow {
  readonly method: string;
  readonly trainable: number;
  /** Peak bytes held by tensors during one training step (weights included). */
  readonly peakBytes: number;
  /** The same peak above what the model held before the step (its weights). */
  readonly stepBytes: number;
}

/** Peak tensor memory of one full training step (forward, backward, optimiser update) of a method. */
export async function measureTrainingStep(
  name: string,
  config: ConstructorParameters<typeof VisionTransformer>[0],
  batch: ImageBatch,
): Promise<MemoryRow> {
  const entry = findMethod(name);
  const model = new VisionTransformer(config, { weights: 'zeros' });
  try {
    applyTrainablePolicy(model, entry.policy);
    const methods = buildMethod(entry, model, {});
    const source = syntheticSource(batch);
    for (const method of methods) await method.prepare?.(source);
    const trainer = new Trainer(model, methods, { epochs: 1, stepsPerEpoch: 1, optimizer: { kind: 'sgd', learningRate: 0.01 } }, { forward: trainingForwardFor(model, methods) });
    const before = tf.memory().numBytes;
    const profile = await tf.profile(async () => {
      await trainer.fit({ train: source });
    });
    const trainable = countParameters(model, methods).trainable;
    trainer.dispose();
    methods.forEach((method) => method.dispose());
    return { method: name, trainable, peakBytes: profile.peakBytes, stepBytes: profile.peakBytes - before };
  } finally {
    model.dispose();
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/**
 * Prints a table of the peak tensor memory of one training step per method on the same backbone,
 * batch and image size, and as its last line one JSON object mapping each method to its peak bytes.
 */
export async function memory(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('memory', args, {
    backbone: { type: 'string' },
    methods: { type: 'string' },
    batch: { type: 'string' },
    classes: { type: 'string' },
    ...BACKEND_OPTION,
  });
  const backbone = requireFlag('memory', 'backbone', flags.backbone);
  const names = requireFlag('memory', 'methods', flags.methods).split(',').map((name) => name.trim());
  names.forEach((name) => findMethod(name));
  if (new Set(names).size !== names.length) throw new UsageError(`--methods lists a method twice: ${names.join(',')}`);
  const batchSize = integerFlag('batch', flags.batch, 1) ?? 8;
  const numClasses = integerFlag('classes', flags.classes, 1) ?? 100;
  const config = await resolveBackbone(backbone, { numClasses });
  const info = await activateBackend(backendFlag(flags.backend), io);
  const batch = syntheticBatch([batchSize, config.inChans, config.imgSize[0], config.imgSize[1]], numClasses);

  const rows: MemoryRow[] = [];
  for (const name of names) {
    io.stderr(`measuring ${name} ...`);
    rows.push(await measureTrainingStep(name, config, batch));
  }
  const reference = rows[0]!;
  io.stdout(`Peak tensor memory of one training step: ${backbone}, batch ${batchSize}, ${config.imgSize.join('x')}, ${numClasses} classes, ${info.backend} backend`);
  io.stdout('');
  io.stdout(`| method | trainable parameters | peak (MiB) | above the weights (MiB) | peak / ${reference.method} |`);
  io.stdout('| --- | --- | --- | --- | --- |');
  for (const row of rows) {
    io.stdout(`| ${row.method} | ${row.trainable.toLocaleString('en-US')} | ${mib(row.peakBytes)} | ${mib(row.stepBytes)} | ${(row.peakBytes / reference.peakBytes).toFixed(2)} |`);
  }
  io.stdout(JSON.stringify(Object.fromEntries(rows.map((row) => [row.method, row.peakBytes]))));
}

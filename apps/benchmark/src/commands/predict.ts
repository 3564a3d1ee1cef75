import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { PipelinePresetName } from '@visual-peft/datasets';
import { classificationProtocol, createBatchSource, isDatasetName, pipelinePreset } from '@visual-peft/datasets';
import { loadTunedModel } from '@visual-peft/training';
import type { HostTensor, VisionTransformer } from '@visual-peft/vit-core';
import { FormatError, VisionTransformer as Vit, loadStateDict, parseNpy, readCheckpoint, serializeNpy, writeFileAtomic } from '@visual-peft/vit-core';
import { BACKEND_OPTION, backendFlag, choiceFlag, integerFlag, parseCommandArgsAndOperands, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { activateBackend } from '../activate-backend';
import { methodDefinitions } from '../methods';
import { imageFiles } from './predict-inputs';

export const PREDICT_USAGE =
  'predict --backbone <preset | config.json> --weights <file.safetensors | file.npz> --images <file.npy> --out <file.npy> [--classes N] [--batch-size N] [--backend auto|tensorflow|wasm|cpu]\n' +
  '  predict (--run <train output | store/weights/<job id>> | --tuned <tuned.safetensors>) [--backbone <preset | config.json>] [--weights <checkpoint>] <image | folder | glob | batch.npy> ... ' +
  '[--top-k 5] [--out logits.npy] [--pipeline vtab|fgvc-test|vtab-sct-test] [--batch-size 32] [--backend auto|tensorflow|wasm|cpu]';

/** The evaluation pipelines a tuned model may read images through (the training ones augment). */
const EVAL_PIPELINES: readonly PipelinePresetName[] = ['vtab', 'fgvc-test', 'vtab-sct-test'];

async function readImages(path: string): Promise<HostTensor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch {
    throw new UsageError(`--images ${path}: no such file`);
  }
  const images = parseNpy(bytes, path);
  if (images.storedAs !== 'float32') {
    throw new FormatError(path, `images must be stored as float32, got ${images.storedAs ?? images.dtype}`);
  }
  if (images.shape.length !== 4) {
    throw new FormatError(path, `images must be a 4-D NCHW batch [batch, channels, height, width], got shape [${images.shape.join(', ')}]`);
  }
  return images;
}

type PredictFlags = ReturnType<typeof parsePredictArgs>['values'];

function parsePredictArgs(args: readonly string[]) {
  return parseCommandArgsAndOperands('predict', args, {
    backbone: { type: 'string' },
    weights: { type: 'string' },
    images: { type: 'string', multiple: true },
    out: { type: 'string' },
    classes: { type: 'string' },
    'batch-size': { type: 'string' },
    run: { type: 'string' },
    tuned: { type: 'string' },
    'top-k': { type: 'string' },
    pipeline: { type: 'string' },
    ...BACKEND_OPTION,
  });
}

/**
 * Classifies images with a tuned model (`--run` or `--tuned`), or runs a plain checkpoint on a
 * normalised `.npy` batch (neither given).
 */
export async function predict(args: readonly string[], io: Io): Promise<void> {
  const { values: flags, operands } = parsePredictArgs(args);
  const images = [...(flags.images ?? []), ...operands];
  if (flags.run !== undefined || flags.tuned !== undefined) return predictTuned(flags, images, io);
  if (operands.length > 0) throw new UsageError(`predict: images as operands need --run or --tuned; a plain backbone reads one --images <file.npy>, got ${JSON.stringify(operands[0])}`);
  return predictPlain(flags, images, io);
}

/**
 * Runs the plain backbone with its head on a float32 NCHW batch (already normalised) and writes the
 * logits as float32 .npy. The class count comes from the checkpoint's head unless --classes says
 * otherwise; the image size comes from the images (the position embedding is resampled on load).
 */
async function predictPlain(flags: PredictFlags, images: readonly string[], io: Io): Promise<void> {
  for (const flag of ['top-k', 'pipeline'] as const) if (flags[flag] !== undefined) throw new UsageError(`predict: --${flag} applies to a tuned model (--run or --tuned)`);
  const backbone = requireFlag('predict', 'backbone', flags.backbone);
  const weightsPath = requireFlag('predict', 'weights', flags.weights);
  if (images.length > 1) throw new UsageError('predict: a plain backbone reads one --images <file.npy>');
  const imagesPath = requireFlag('predict', 'images', images[0]);
  const outPath = requireFlag('predict', 'out', flags.out);
  const classes = integerFlag('classes', flags.classes, 0);
  const batchSize = integerFlag('batch-size', flags['batch-size'], 1) ?? 32;
  const backend = backendFlag(flags.backend);

  const batch = await readImages(imagesPath);
  const { stateDict } = await readCheckpoint(weightsPath);
  const [count, channels, height, width] = batch.shape as [number, number, number, number];
  const numClasses = classes ?? stateDict.get('head.weight')?.shape[0] ?? 0;
  const config = await resolveBackbone(backbone, { numClasses, imgSize: [height, width] });
  if (channels !== config.inChans) {
    throw new FormatError(imagesPath, `images have ${channels} channels, the backbone takes ${config.inChans} (shape [${batch.shape.join(', ')}])`);
  }
  await activateBackend(backend, io);

  const model = new Vit(config, { weights: 'zeros' });
  try {
    const report = loadStateDict(model, stateDict, { source: weightsPath });
    if (report.posEmbedResampled !== null) {
      const { from, to } = report.posEmbedResampled;
      io.stderr(`pos_embed resampled from a ${from.join('x')} to a ${to.join('x')} patch grid for ${height}x${width} images`);
    }
    if (numClasses === 0) io.stderr(`${weightsPath} has no head: writing pooled features instead of logits`);
    const perImage = channels * height * width;
    const outputWidth = numClasses > 0 ? numClasses : config.embedDim;
    const data = batch.data as Float32Array;
    const result = new Float32Array(count * outputWidth);
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      result.set(await forwardBatch(model, data.subarray(start * perImage, (start + size) * perImage), [size, channels, height, width]), start * outputWidth);
    }
    await writeFileAtomic(outPath, serializeNpy({ dtype: 'float32', shape: [count, outputWidth], data: result }));
    io.stdout(`wrote ${outPath}: float32 [${count}, ${outputWidth}]`);
  } finally {
    model.dispose();
  }
}

/** The model's outputs for one host batch. */
async function forwardBatch(model: VisionTransformer, images: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array> {
  const input = tf.tensor4d(images, [...shape]);
  const logits = model.forward(input);
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    tf.dispose([input, logits]);
  }
}

/** A progress bar on stderr, one line per batch, for inputs longer than one batch. */
function progress(io: Io, total: number, batchSize: number): (done: number) => void {
  if (total <= batchSize) return () => {};
  return (done) => {
    const filled = Math.round((20 * done) / total);
    io.stderr(`predict: [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${done}/${total} images`);
  };
}

/**
 * The pipeline a run's test images went through: a suite job's weights folder names it (`job.json`), a `train` output's
 * dataset gives it (`result.json`), else `vtab`.
 */
async function runPipeline(run: string | undefined): Promise<PipelinePresetName> {
  if (run === undefined) return 'vtab';
  const read = async (name: string) => {
    try {
      return JSON.parse(await readFile(join(run, name), 'utf8')) as { dataset?: unknown; evalPipeline?: unknown };
    } catch {
      return null;
    }
  };
  const kept = (await read('job.json'))?.evalPipeline;
  if (typeof kept === 'string' && (EVAL_PIPELINES as readonly string[]).includes(kept)) return kept as PipelinePresetName;
  const dataset = (await read('result.json'))?.dataset;
  return typeof dataset === 'string' && isDatasetName(dataset) && dataset !== 'ade20k' ? classificationProtocol(dataset).evalPipeline : 'vtab';
}

/** The k most probable classes of one row of logits, by softmax (in float64). */
function topClasses(logits: Float32Array, k: number, names: readonly string[] | null): { class: string; index: number; probability: number }[] {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (value) => Math.exp(value - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps
    .map((value, index) => ({ class: names?.[index] ?? String(index), index, probability: value / sum }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, k);
}

/**
 * Classifies images with a tuned model: `--run <dir>` (a `train` output, or a suite job's `<store>/weights/<job id>`) or `--tuned <file>`, with
 * `--backbone` / `--weights` where the file does not record them (or to move the checkpoint). Images are files, folders or
 * globs read through the task's evaluation pipeline (the run's dataset's; `--pipeline` to choose),
 * or one normalised `.npy` batch. Writes one JSON line per image with its `--top-k` classes by name
 * and probability, or with `--out` the logits as float32 .npy. Everything is computed before
 * anything is written, so an image that does not decode leaves no output.
 */
async function predictTuned(flags: PredictFlags, inputs: readonly string[], io: Io): Promise<void> {
  if (flags.run !== undefined && flags.tuned !== undefined) throw new UsageError('predict: give --run <dir> or --tuned <file>, not both');
  if (flags.classes !== undefined) throw new UsageError("predict: --classes applies to a plain backbone; a tuned model has its head's classes");
  if (inputs.length === 0) throw new UsageError('predict: name the images (files, folders or globs) or one --images <batch.npy>');
  const topK = integerFlag('top-k', flags['top-k'], 1) ?? 5;
  const batchSize = integerFlag('batch-size', flags['batch-size'], 1) ?? 32;
  const pipelineName = flags.pipeline === undefined ? await runPipeline(flags.run) : choiceFlag('pipeline', flags.pipeline, EVAL_PIPELINES);
  const npy = inputs.length === 1 && inputs[0]!.toLowerCase().endsWith('.npy') ? await readImages(inputs[0]!) : null;
  const files = npy === null ? await imageFiles(inputs) : [];
  const backbone = flags.backbone === undefined ? undefined : await resolveBackbone(flags.backbone);
  await activateBackend(backendFlag(flags.backend), io);

  const given = { ...(backbone === undefined ? {} : { backbone }), ...(flags.weights === undefined ? {} : { weights: flags.weights }) };
  const source = flags.run !== undefined ? { run: flags.run, ...given } : { tuned: flags.tuned!, ...given };
  const { model, methods, classNames } = await loadTunedModel(source, { definitions: methodDefinitions() });
  let logits: Float32Array;
  let names: string[];
  try {
    if (model.numClasses === 0) throw new FormatError(flags.run ?? flags.tuned!, 'the tuned model has no head: nothing to classify');
    const [height, width] = model.config.imgSize;
    const outputWidth = model.numClasses;
    if (npy !== null) {
      const [count, channels, h, w] = npy.shape as [number, number, number, number];
      if (channels !== model.config.inChans || h !== height || w !== width) {
        throw new FormatError(inputs[0]!, `images must be [N, ${model.config.inChans}, ${height}, ${width}] for this tuned model, got [${npy.shape.join(', ')}]`);
      }
      names = Array.from({ length: count }, (_, index) => `${inputs[0]}[${index}]`);
      logits = new Float32Array(count * outputWidth);
      const perImage = channels * h * w;
      const report = progress(io, count, batchSize);
      for (let start = 0; start < count; start += batchSize) {
        const size = Math.min(batchSize, count - start);
        logits.set(await forwardBatch(model, (npy.data as Float32Array).subarray(start * perImage, (start + size) * perImage), [size, channels, h, w]), start * outputWidth);
        report(start + size);
      }
    } else {
      if (height !== width) throw new FormatError(flags.run ?? flags.tuned!, `the tuned backbone's imgSize must be square for the image pipelines, got [${height}, ${width}]`);
      const split = { dataset: 'predict', split: 'images', numClasses: Math.max(model.numClasses, 1), examples: files.map((file) => ({ image: file, label: 0, origin: { file } })) };
      const batches = createBatchSource(split, { batchSize, pipeline: pipelinePreset(pipelineName, { imageSize: height }) });
      names = files;
      logits = new Float32Array(files.length * outputWidth);
      const report = progress(io, files.length, batchSize);
      let done = 0;
      for await (const batch of batches(0)) {
        logits.set(await forwardBatch(model, batch.images, batch.shape), done * outputWidth);
        done += batch.shape[0];
        report(done);
      }
    }
  } finally {
    methods.forEach((method) => method.dispose());
    model.dispose();
  }
  const width = logits.length / names.length;
  if (flags.out !== undefined) {
    await writeFileAtomic(flags.out, serializeNpy({ dtype: 'float32', shape: [names.length, width], data: logits }));
    io.stdout(`wrote ${flags.out}: float32 [${names.length}, ${width}]`);
    return;
  }
  names.forEach((image, row) => io.stdout(JSON.stringify({ image, top: topClasses(logits.subarray(row * width, (row + 1) * width), topK, classNames) })));
}

import { SeededRandom } from '@visual-peft/vit-core';
/**
 * Test-only material: a small real tuning method (shallow prompts with dropout and a per-channel
 * scale on each MLP branch) and an in-memory image task the tiny ViT can learn.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, ImageBatch, MethodDefinition, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { applyTrainablePolicy, integer } from '@visual-peft/vit-core';
import { TINY_VIT, tinyModel } from '@visual-peft/method-testing';

export interface PromptOptions {
  readonly numPrompts?: number;
  readonly dropout?: number;
  readonly seed?: number;
}

/**
 * P prompts inserted after CLS before block 0 (dropout on them in training, seeded by the pass),
 * and a learnable scale [D] on every block's MLP branch: a rank-3 and rank-1 variables, as the
 * parameter groups need.
 */
export function promptMethod(model: VisionTransformer, options: Readonly<Record<string, unknown>> = {}): TuningMethod {
  const { numPrompts = 3, dropout = 0.1, seed = 5 } = options as PromptOptions;
  integer('numPrompts', numPrompts, 1);
  const dim = model.config.embedDim;
  const limit = Math.sqrt(6 / (3 * model.config.patchSize ** 2 + dim));
  let prompts = tf.tidy(() => tf.variable(tf.randomUniform([1, numPrompts, dim], -limit, limit, 'float32', seed), true));
  let scales = model.blocks.map(() => tf.tidy(() => tf.variable(tf.ones([dim]), true)));
  return {
    name: 'test-prompt',
    config: { numPrompts, dropout, seed },
    enterBlock: (tokens, context) => {
      if (context.blockIndex !== 0) return tokens;
      const batch = tokens.shape[0];
      const used = context.training && dropout > 0 ? tf.dropout(prompts, dropout, undefined, context.seed) : prompts;
      const expanded = tf.broadcastTo(used, [batch, numPrompts, dim]) as tf.Tensor3D;
      const cls = tf.slice(tokens, [0, 0, 0], [-1, 1, -1]);
      const patches = tf.slice(tokens, [0, 1, 0], [-1, -1, -1]);
      return tf.concat([cls, expanded, patches], 1);
    },
    branchOutput: (site, branch, context) => (site === 'mlp' ? tf.mul(branch.output, scales[context.blockIndex]!) : branch.output),
    trainableVariables: () => [prompts, ...scales],
    numParameters: () => prompts.size + scales.length * dim,
    weights: () => new Map([['prompts', prompts.clone()], ...scales.map((scale, index): [string, tf.Tensor] => [`scales.${index}`, scale.clone()])]),
    loadWeights: (weights) => {
      prompts.assign(weights.get('prompts')!);
      scales.forEach((scale, index) => scale.assign(weights.get(`scales.${index}`)!));
    },
    dispose: () => {
      tf.dispose([prompts, ...scales]);
      prompts = undefined as unknown as tf.Variable;
      scales = [];
    },
  };
}

export const PROMPT_DEFINITION: MethodDefinition = {
  name: 'test-prompt',
  description: 'test-only shallow prompts with a per-channel MLP scale',
  policy: 'linear',
  create: (model, options) => promptMethod(model, options),
  variableShapes: (config, options) => {
    const { numPrompts = 3 } = options as PromptOptions;
    return new Map([['prompts', { shape: [1, integer('numPrompts', numPrompts, 1), config.embedDim] }], ...Array.from({ length: config.depth }, (_, index): [string, { shape: number[] }] => [`scales.${index}`, { shape: [config.embedDim] }])]);
  },
};

/** A tiny ViT with its head trainable and the prompt method attached. */
export function promptSetup(options: PromptOptions = {}): { model: VisionTransformer; method: TuningMethod } {
  const model = tinyModel({ ...TINY_VIT, dropPathRate: 0.1 });
  applyTrainablePolicy(model, 'linear');
  const method = promptMethod(model, { ...options });
  model.attach(method);
  return { model, method };
}

export interface ImageTask {
  readonly source: BatchSource;
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
}

/**
 * `count` 32x32 images of `classes` classes: each class a fixed random pattern plus noise, so a
 * linear probe can separate them. The source shuffles per epoch (seeded by the epoch).
 */
export function imageTask(options: { count?: number; classes?: number; batchSize?: number; seed?: number } = {}): ImageTask {
  const { count = 20, classes = 5, batchSize = 5, seed = 11 } = options;
  const size = 3 * 32 * 32;
  const random = new SeededRandom(seed);
  const uniform = () => random.nextSeed() / 2 ** 31;
  const patterns = Array.from({ length: classes }, () => Float32Array.from({ length: size }, () => 2 * uniform() - 1));
  const images = Array.from({ length: count }, (_, index) => {
    const pattern = patterns[index % classes]!;
    return Float32Array.from(pattern, (value) => value + 0.5 * (2 * uniform() - 1));
  });
  const labels = Array.from({ length: count }, (_, index) => index % classes);
  const source: BatchSource = async function* (epoch) {
    const order = Array.from({ length: count }, (_, index) => index);
    const shuffle = new SeededRandom(1000 + epoch);
    for (let index = count - 1; index > 0; index--) {
      const other = shuffle.nextSeed() % (index + 1);
      [order[index], order[other]] = [order[other]!, order[index]!];
    }
    for (let start = 0; start + batchSize <= count; start += batchSize) {
      const chosen = order.slice(start, start + batchSize);
      const batchImages = new Float32Array(batchSize * size);
      chosen.forEach((image, row) => batchImages.set(images[image]!, row * size));
      yield { images: batchImages, labels: Int32Array.from(chosen, (image) => labels[image]!), shape: [batchSize, 3, 32, 32] };
    }
  };
  return { source, stepsPerEpoch: Math.floor(count / batchSize), batchSize };
}

/** The same batches, except that `(epoch, step)`'s images are all NaN. */
export function withNaNBatch(source: BatchSource, at: { epoch: number; step: number }): BatchSource {
  return async function* (epoch) {
    let step = 0;
    for await (const batch of source(epoch)) {
      const poisoned: ImageBatch = { ...batch, images: new Float32Array(batch.images.length).fill(Number.NaN) };
      yield epoch === at.epoch && step === at.step ? poisoned : batch;
      step += 1;
    }
  };
}

/** Every trainable value of the model and method, by key, on the host (for bit-for-bit comparisons). */
export function snapshot(model: VisionTransformer, method: TuningMethod): Map<string, Float32Array> {
  const result = new Map<string, Float32Array>();
  const weights = method.weights();
  for (const [name, tensor] of weights) result.set(`method/${name}`, Float32Array.from(tensor.dataSync() as Float32Array));
  tf.dispose([...weights.values()]);
  for (const parameter of model.parameters) result.set(parameter.key, Float32Array.from(parameter.variable.dataSync() as Float32Array));
  return result;
}

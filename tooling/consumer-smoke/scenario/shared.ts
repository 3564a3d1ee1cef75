// What a user of one method package writes: build a tiny ViT, attach the method, train it with the
// project's Trainer and with a tfjs optimiser, save its weights (bytes and files) and load them into
// a fresh model. No gradient is registered by hand: building the model is enough (vit-core).
// Copied into the consumer project as shared.mts and shared.cts, so one text runs as ESM and CJS.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Trainer, encodeTunedWeights, loadTunedWeights, loadTunedWeightsBytes, saveTunedWeights } from '@visual-peft/training';
import type { BatchSource, MethodDefinition, TuningMethod, VitConfigInput } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, getStateDict, loadMethodWeights, loadStateDict, serializeMethodWeights } from '@visual-peft/vit-core';

export interface SmokeCase {
  readonly name: string;
  readonly definition: MethodDefinition;
  readonly options: Readonly<Record<string, unknown>>;
}

const CONFIG: VitConfigInput = { imgSize: 16, patchSize: 8, embedDim: 16, depth: 2, numHeads: 2, numClasses: 3 };
const BATCH = 6;
const SHAPE = [BATCH, 3, 16, 16] as const;
const IMAGES = tf.tidy(() => tf.randomNormal([...SHAPE], 0, 1, 'float32', 5).dataSync() as Float32Array);
const LABELS = Int32Array.from({ length: BATCH }, (_, i) => i % 3);
const source: BatchSource = async function* () {
  yield { images: IMAGES, labels: LABELS, shape: SHAPE };
};

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** A tiny ViT whose weights have the scale of a trained model (timm's init is near zero), by seed. */
function tinyModel(seed: number): VisionTransformer {
  const model = new VisionTransformer(CONFIG, { weights: 'zeros' });
  model.parameters.forEach((parameter, index) => {
    tf.tidy(() => {
      const gain = /norm\d?\.weight$/.test(parameter.key);
      const noise = tf.randomNormal(parameter.variable.shape, 0, gain ? 0.1 : 0.2, 'float32', seed + index);
      parameter.variable.assign(gain ? tf.add(noise, 1) : noise);
    });
  });
  return model;
}

function logits(model: VisionTransformer): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor4d(IMAGES, [...SHAPE])).dataSync() as Float32Array);
}

function loss(model: VisionTransformer, training: boolean): tf.Scalar {
  const labels = tf.oneHot(tf.tensor1d(LABELS, 'int32'), 3);
  return tf.losses.softmaxCrossEntropy(labels, model.forward(tf.tensor4d(IMAGES, [...SHAPE]), { training, seed: 1 })) as tf.Scalar;
}

function lossValue(model: VisionTransformer): number {
  return tf.tidy(() => loss(model, false).dataSync()[0]!);
}

function trainableVariables(model: VisionTransformer, method: TuningMethod): tf.Variable[] {
  return [...method.trainableVariables(), ...model.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.variable)];
}

function snapshot(variables: readonly tf.Variable[]): Float32Array[] {
  return variables.map((variable) => variable.dataSync() as Float32Array).map((values) => Float32Array.from(values));
}

/** Element for element, bit for bit (floats or bytes). */
function sameValues(a: Float32Array | Uint8Array, b: Float32Array | Uint8Array): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

async function attached(testCase: SmokeCase, seed: number): Promise<{ model: VisionTransformer; method: TuningMethod }> {
  const model = tinyModel(seed);
  applyTrainablePolicy(model, testCase.definition.policy);
  const method = testCase.definition.create(model, testCase.options);
  await method.prepare?.(source);
  model.attach(method);
  return { model, method };
}

function checkTrained(label: string, model: VisionTransformer, variables: readonly tf.Variable[], before: Float32Array[], lossBefore: number): string {
  const lossAfter = lossValue(model);
  check(Number.isFinite(lossAfter), `${label}: loss after training is ${lossAfter}`);
  const changed = snapshot(variables).some((values, index) => !sameValues(values, before[index]!));
  check(lossAfter < lossBefore || changed, `${label}: neither did the loss fall (${lossBefore} -> ${lossAfter}) nor did a weight change`);
  return `loss ${lossBefore.toFixed(4)} -> ${lossAfter.toFixed(4)}`;
}

/** The method's weights, and the tuned weights (method and head), each as bytes and as a file, loaded into a fresh model. */
async function saveAndReload(label: string, testCase: SmokeCase, model: VisionTransformer, method: TuningMethod, directory: string): Promise<void> {
  const expected = logits(model);
  const bytes = serializeMethodWeights(method);
  const file = join(directory, `${testCase.name}.safetensors`);
  writeFileSync(file, bytes);
  for (const [from, restored] of [['bytes', bytes], ['file', new Uint8Array(readFileSync(file))]] as const) {
    // A fresh model with the tuned model's backbone and head (its checkpoint), the method from the saved weights.
    const fresh = tinyModel(99);
    const state = getStateDict(model);
    loadStateDict(fresh, state);
    const loaded = testCase.definition.create(fresh, testCase.options);
    loadMethodWeights(loaded, restored);
    fresh.attach(loaded);
    check(sameValues(logits(fresh), expected), `${label}: logits after loading the method's weights from ${from} differ`);
    loaded.dispose();
    fresh.dispose();
  }
  // Tuned weights (the method's and the trained head): as bytes, and into a folder that does not exist yet.
  const tuned = encodeTunedWeights(model, [method]);
  const tunedPath = join(directory, 'runs', testCase.name, 'tuned.safetensors');
  await saveTunedWeights(tunedPath, model, [method]);
  check(sameValues(tuned, new Uint8Array(readFileSync(tunedPath))), `${label}: encodeTunedWeights and saveTunedWeights wrote different bytes`);
  for (const from of ['bytes', 'file'] as const) {
    const fresh = tinyModel(1);
    const methods = from === 'bytes' ? loadTunedWeightsBytes(tuned, fresh, [testCase.definition]) : await loadTunedWeights(tunedPath, fresh, [testCase.definition]);
    check(sameValues(logits(fresh), expected), `${label}: logits after loading the tuned weights from ${from} differ`);
    methods.forEach((loaded) => loaded.dispose());
    fresh.dispose();
  }
}

async function withTrainer(testCase: SmokeCase, directory: string): Promise<string> {
  const label = `${testCase.name} (Trainer)`;
  const { model, method } = await attached(testCase, 1);
  const variables = trainableVariables(model, method);
  const before = snapshot(variables);
  const lossBefore = lossValue(model);
  const trainer = new Trainer(model, [method], { epochs: 3, stepsPerEpoch: 1, optimizer: { kind: 'adamw', learningRate: 0.01, weightDecay: 0 }, schedule: { kind: 'constant' }, seed: 3 });
  const result = await trainer.fit({ train: source });
  trainer.dispose();
  check(result.status === 'completed' && result.history.every((epoch) => Number.isFinite(epoch.trainLoss)), `${label}: ${JSON.stringify(result.history)}`);
  const summary = checkTrained(label, model, variables, before, lossBefore);
  await saveAndReload(label, testCase, model, method, directory);
  method.dispose();
  model.dispose();
  return summary;
}

async function withTfjsOptimizer(testCase: SmokeCase, directory: string): Promise<string> {
  const label = `${testCase.name} (tf.train.adam)`;
  const { model, method } = await attached(testCase, 1);
  const variables = trainableVariables(model, method);
  const before = snapshot(variables);
  const lossBefore = lossValue(model);
  const optimizer = tf.train.adam(0.01);
  for (let step = 0; step < 3; step++) {
    const value = optimizer.minimize(() => loss(model, true), true, variables);
    check(value !== null && Number.isFinite(value.dataSync()[0]!), `${label}: step ${step} loss is not finite`);
    value?.dispose();
  }
  optimizer.dispose();
  const summary = checkTrained(label, model, variables, before, lossBefore);
  await saveAndReload(label, testCase, model, method, directory);
  method.dispose();
  model.dispose();
  return summary;
}

/** Runs every case; a failure exits non-zero with its message. */
export async function runSmoke(packageName: string, cases: readonly SmokeCase[]): Promise<void> {
  await tf.setBackend('cpu');
  const directory = mkdtempSync(join(tmpdir(), 'consumer-smoke-'));
  try {
    for (const testCase of cases) {
      const tensors = tf.memory().numTensors;
      const trainer = await withTrainer(testCase, directory);
      const tfjs = await withTfjsOptimizer(testCase, directory);
      check(tf.memory().numTensors === tensors, `${testCase.name}: ${tf.memory().numTensors - tensors} tensors left`);
      console.log(`${packageName} ${testCase.name}: Trainer ${trainer}; tf.train.adam ${tfjs}; saved and reloaded bit for bit`);
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

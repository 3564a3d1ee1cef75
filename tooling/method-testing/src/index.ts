/**
 * The checks every tuning method passes (the shared test table of peft): attach a method to a tiny
 * ViT and verify the contract of `TuningMethod`. A method package calls `describeMethodContract`
 * with one case per configuration it supports.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, DeclaredVariable, Diagnostic, HostTensor, MethodDefinition, OfficialNames, TrainablePolicy, TuningMethod, VitConfigInput } from '@visual-peft/vit-core';
import {
  CheckpointMismatchError,
  DIAGNOSTIC_KINDS,
  VisionTransformer,
  applyTrainablePolicy,
  fromOfficialNames,
  getStateDict,
  leanVariableGrads,
  readParameter,
  toHostTensor,
  toOfficialNames,
} from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** 2 blocks, 32 dims, 32x32 images, 4x4 patches of 8, 5 classes. */
export const TINY_VIT: VitConfigInput = { imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 4, numClasses: 5 };

/**
 * Gives every backbone weight the scale of a trained model (timm's initialisation is tiny, which
 * makes LayerNorm of near-constant tokens strongly non-linear): N(0, 0.2), LayerNorm gains near 1.
 */
export function randomizeWeights(model: VisionTransformer, seed: number): void {
  model.parameters.forEach((parameter, index) => {
    tf.tidy(() => {
      const isGain = /norm\d?\.weight$/.test(parameter.key);
      const noise = tf.randomNormal(parameter.variable.shape, 0, isGain ? 0.1 : 0.2, 'float32', seed + index);
      parameter.variable.assign(isGain ? tf.add(noise, 1) : noise);
    });
  });
}

/** A tiny ViT with trained-scale random weights, the same for the same seed. */
export function tinyModel(config: VitConfigInput = TINY_VIT, seed = 1): VisionTransformer {
  const model = new VisionTransformer(config, { weights: 'zeros' });
  randomizeWeights(model, seed);
  return model;
}

export type MethodCase = CaseSettings &
  (
    | {
        /** Builds the method for a model, not attached. Two calls must give the same initial weights. */
        readonly create: (model: VisionTransformer) => TuningMethod;
        /**
         * The definition and options that declare what `create` builds: its `variableShapes` must
         * then list the built variables, names, shapes and classifier flags. Where `create` is left
         * out, the method is `definition.create(model, options)`.
         */
        readonly declared?: { readonly definition: MethodDefinition; readonly options: Readonly<Record<string, unknown>> };
      }
    | { readonly declared: { readonly definition: MethodDefinition; readonly options: Readonly<Record<string, unknown>> } }
  );

interface CaseSettings {
  /** Test title, e.g. 'lora rank 4'. */
  readonly name: string;
  /** Backbone weights that train alongside the method. Default 'linear' (the head). */
  readonly policy?: TrainablePolicy;
  /** Backbone; default TINY_VIT. */
  readonly config?: VitConfigInput;
  /** `numParameters()` the method must report, when the case knows it. */
  readonly expectedParameters?: number;
  /** Training steps (method variables only, head frozen) and the fraction the loss must fall by. Default 40 and 0.1. */
  readonly training?: { readonly steps?: number; readonly learningRate?: number; readonly minimumDrop?: number };
  /** Relative tolerance of the finite-difference check. Default 1e-2. */
  readonly gradientTolerance?: number;
}

const BATCH = 8;

function logits(model: VisionTransformer, images: tf.Tensor4D): Float32Array {
  return tf.tidy(() => model.forward(images).dataSync() as Float32Array);
}

function loss(model: VisionTransformer, images: tf.Tensor4D, labels: tf.Tensor2D, training = false, recompute = false): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(labels, model.forward(images, { training, seed: 3, recompute })) as tf.Scalar;
}

function relativeDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / Math.max(tf.norm(b).dataSync()[0]!, 1e-12));
}

/** What a case builds: its own `create`, or its definition's with its options. */
function builder(testCase: MethodCase): (model: VisionTransformer) => TuningMethod {
  if ('create' in testCase) return testCase.create;
  const { definition, options } = testCase.declared;
  return (model) => definition.create(model, options);
}

/** The variables a built method holds, as `MethodDefinition.variableShapes` declares them. */
function heldVariables(method: TuningMethod): Map<string, DeclaredVariable> {
  const weights = method.weights();
  tf.dispose([...weights.values()]);
  // `weights()` names the variables (and any saved state) in registration order; the variables are its first entries.
  const names = [...weights.keys()].slice(0, method.trainableVariables().length);
  return new Map(method.trainableVariables().map((variable, index) => [names[index]!, { shape: variable.shape }]));
}

/** Registers the shared checks for each case. */
export function describeMethodContract(cases: readonly MethodCase[]): void {
  for (const testCase of cases) {
    const create = builder(testCase);
    describe(`${testCase.name}: the tuning-method contract`, () => {
      let model: VisionTransformer;
      let method: TuningMethod;
      let images: tf.Tensor4D;
      let labels: tf.Tensor2D;
      let pretrained: Float32Array;
      let tensorsBefore: number;

      beforeEach(() => {
        tensorsBefore = tf.memory().numTensors;
        model = tinyModel(testCase.config);
        applyTrainablePolicy(model, testCase.policy ?? 'linear');
        images = tf.randomNormal([BATCH, 3, model.config.imgSize[0], model.config.imgSize[1]], 0, 1, 'float32', 7) as tf.Tensor4D;
        labels = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % model.numClasses), 'int32'), model.numClasses) as tf.Tensor2D);
        pretrained = logits(model, images);
        method = create(model);
        model.attach(method);
      });
      afterEach(() => {
        if (model.extensions.includes(method)) model.detach(method);
        method.dispose();
        model.dispose();
        tf.dispose([images, labels]);
        expect(tf.memory().numTensors, 'tensors left after dispose').toBe(tensorsBefore);
      });

      it('gives logits of the right shape and leaks no tensor in a forward and a training step', () => {
        const before = tf.memory().numTensors;
        const out = model.forward(images);
        expect(out.shape).toEqual([BATCH, model.numClasses]);
        out.dispose();
        const { value, grads } = tf.variableGrads(() => loss(model, images, labels, true), method.trainableVariables());
        tf.dispose([value, Object.values(grads)]);
        expect(tf.memory().numTensors).toBe(before);
      });

      it('declares, from its definition and options alone, the variables it builds', () => {
        if (testCase.declared === undefined) return;
        const { definition, options } = testCase.declared;
        const declared = definition.variableShapes(model.config, options);
        const held = heldVariables(method);
        expect(new Map([...declared].map(([name, variable]) => [name, { shape: [...variable.shape] }]))).toEqual(held);
        const size = (shape: readonly number[]) => shape.reduce((product, axis) => product * axis, 1);
        const counted = [...declared.values()].filter((variable) => variable.classifier !== true);
        expect(counted.reduce((sum, variable) => sum + size(variable.shape), 0), 'numParameters: classifiers left out').toBe(method.numParameters());
      });

      it('reports its parameter count and only trainable variables', () => {
        const variables = method.trainableVariables();
        expect(variables.length).toBeGreaterThan(0);
        expect(variables.every((variable) => variable.trainable)).toBe(true);
        if (testCase.expectedParameters !== undefined) expect(method.numParameters()).toBe(testCase.expectedParameters);
      });

      it('gives gradients to its own variables and the policy’s weights only', () => {
        const trainableBackbone = model.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.variable);
        const { value, grads } = tf.variableGrads(() => loss(model, images, labels));
        value.dispose();
        const expected = new Set([...method.trainableVariables(), ...trainableBackbone].map((variable) => variable.name));
        expect(new Set(Object.keys(grads))).toEqual(expected);
        tf.dispose(Object.values(grads));
      });

      it('trains: the loss falls with only the method’s variables updated, the backbone untouched, and detaching restores the pretrained logits bit for bit', () => {
        const backbone = getStateDict(model);
        const { steps = 40, learningRate = 1e-2, minimumDrop = 0.1 } = testCase.training ?? {};
        const optimizer = tf.train.adam(learningRate);
        const initial = tf.tidy(() => loss(model, images, labels).dataSync()[0]!);
        for (let step = 0; step < steps; step++) {
          tf.dispose(optimizer.minimize(() => loss(model, images, labels, true), false, method.trainableVariables()) ?? []);
        }
        const final = tf.tidy(() => loss(model, images, labels).dataSync()[0]!);
        optimizer.dispose();
        expect(final, `loss ${initial} -> ${final}`).toBeLessThan(initial * (1 - minimumDrop));
        for (const [key, value] of getStateDict(model)) expect(value.data, key).toEqual(backbone.get(key)!.data);
        model.detach(method);
        expect(logits(model, images)).toEqual(pretrained);
      });

      it('saves and loads its weights: a fresh method on the same backbone gives identical logits', () => {
        tf.tidy(() => method.trainableVariables().forEach((variable, index) => variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.05, 'float32', 50 + index)))));
        const saved = method.weights();
        const expected = logits(model, images);
        model.detach(method);
        const fresh = create(model);
        fresh.loadWeights(saved);
        model.attach(fresh);
        expect(logits(model, images)).toEqual(expected);
        model.detach(fresh);
        fresh.dispose();
        tf.dispose([...saved.values()]);
      });

      it('switched off by disableExtensions computes the pretrained model bit for bit, and the tuned one again after', () => {
        const tuned = logits(model, images);
        expect(model.disableExtensions(() => logits(model, images), [method])).toEqual(pretrained);
        expect(logits(model, images)).toEqual(tuned);
      });

      it('refuses weights with a name missing in one CheckpointMismatchError, changing nothing', () => {
        const saved = method.weights();
        const [first] = [...saved.keys()];
        const before = logits(model, images);
        const partial = new Map([...saved].filter(([name]) => name !== first));
        expect(() => method.loadWeights(partial)).toThrow(CheckpointMismatchError);
        expect(() => method.loadWeights(partial)).toThrow(`missing keys: ${first}`);
        // The check alone (what loaders run on every method before writing any) agrees with the load.
        if (method.checkWeights !== undefined) {
          expect(() => method.checkWeights!(saved)).not.toThrow();
          expect(() => method.checkWeights!(partial)).toThrow(`missing keys: ${first}`);
        }
        expect(logits(model, images)).toEqual(before);
        tf.dispose([...saved.values()]);
      });

      it('trains through its own training forward, if it has one, to the logits of the model’s forward pass', () => {
        if (method.trainingForward === undefined) return;
        const forward = method.trainingForward();
        const context = { training: false, seed: undefined, epoch: 0, globalStep: 0, imageOffset: 0, recompute: false };
        const prepared = forward.prepare === undefined ? undefined : tf.tidy(() => forward.prepare!(images, context));
        const own = tf.tidy(() => forward.logits(images, context, prepared).dataSync() as Float32Array);
        if (prepared !== undefined) tf.dispose(prepared);
        const plain = logits(model, images);
        own.forEach((value, index) => expect(Math.abs(value - plain[index]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(plain[index]!))));
      });

      it('reports diagnostics, if it has them, as valid typed records without changing itself', async () => {
        if (method.diagnostics === undefined) return;
        const before = logits(model, images);
        const source: BatchSource = async function* () {
          yield {
            images: images.dataSync() as Float32Array,
            labels: Int32Array.from({ length: BATCH }, (_, i) => i % model.numClasses),
            shape: images.shape as [number, number, number, number],
          };
        };
        const tensors = tf.memory().numTensors;
        const records: Diagnostic[] = await method.diagnostics({ model, images, source, epoch: 0 });
        expect(tf.memory().numTensors, 'tensors left by diagnostics').toBe(tensors);
        expect(records.length).toBeGreaterThan(0);
        const names = records.map((record) => record.name);
        expect(new Set(names).size, 'names are unique').toBe(names.length);
        for (const record of records) {
          expect(record.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
          expect(record.title.length).toBeGreaterThan(0);
          expect(DIAGNOSTIC_KINDS).toContain(record.kind);
          const numbers = record.kind === 'scalar' ? [record.value] : record.kind === 'per-block' ? record.values : [...record.selected.flat(), ...(record.scores ?? []).flat()];
          expect(numbers.every(Number.isFinite), record.name).toBe(true);
          if (record.kind === 'per-block') expect(record.firstBlock + record.values.length).toBeLessThanOrEqual(model.config.depth);
          if (record.kind === 'channels') expect(record.selected.length).toBe(model.config.depth);
        }
        expect(logits(model, images)).toEqual(before);
      });

      it('gives the same gradients through the lean backward pass (bit for bit) and with every block recomputed', () => {
        const variables = [...method.trainableVariables(), ...model.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.variable)];
        const stock = tf.variableGrads(() => loss(model, images, labels, true), variables);
        const lean = leanVariableGrads(() => loss(model, images, labels, true), variables);
        const recomputed = leanVariableGrads(() => loss(model, images, labels, true, true), variables);
        const names = Object.keys(stock.grads);
        expect(Object.keys(lean.grads).sort()).toEqual([...names].sort());
        expect(Object.keys(recomputed.grads).sort()).toEqual([...names].sort());
        for (const name of names) {
          expect(Array.from(lean.grads[name]!.dataSync()), name).toEqual(Array.from(stock.grads[name]!.dataSync()));
          expect(relativeDifference(recomputed.grads[name]!, stock.grads[name]!), name).toBeLessThan(1e-5);
        }
        // All together within 1e-6; one variable alone within 1e-5, since a shared scalar (a gate, a
        // temperature) sums terms of both signs over every block, and float32 rounding of those
        // terms, summed in another order, shows at a few 1e-6 of its total.
        const flat = (grads: tf.NamedTensorMap) => tf.concat(names.map((name) => tf.reshape(grads[name]!, [-1])));
        expect(tf.tidy(() => relativeDifference(flat(recomputed.grads), flat(stock.grads)))).toBeLessThan(1e-6);
        tf.dispose([stock.value, lean.value, recomputed.value, ...[stock, lean, recomputed].flatMap((result) => Object.values(result.grads))]);
      });

      it('has gradients that match central finite differences', () => {
        const tolerance = testCase.gradientTolerance ?? 1e-2;
        // Move every variable off its initialisation first: zero-initialised branches have zero
        // gradients for half their weights there, which would make the check trivially pass.
        tf.tidy(() => method.trainableVariables().forEach((variable, index) => variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.1, 'float32', 80 + index)))));
        const variables = method.trainableVariables();
        const { value, grads } = tf.variableGrads(() => loss(model, images, labels), variables);
        value.dispose();
        for (const [index, variable] of variables.entries()) {
          const direction = tf.tidy(() => {
            const raw = tf.randomNormal(variable.shape, 0, 1, 'float32', 90 + index);
            return tf.div(raw, tf.norm(raw));
          });
          const original = variable.clone();
          const epsilon = 1e-3;
          const at = (sign: number) =>
            tf.tidy(() => {
              variable.assign(tf.add(original, tf.mul(direction, sign * epsilon)));
              return loss(model, images, labels).dataSync()[0]!;
            });
          const numeric = (at(1) - at(-1)) / (2 * epsilon);
          variable.assign(original);
          const analytic = tf.tidy(() => tf.sum(tf.mul(grads[variable.name]!, direction)).dataSync()[0]!);
          expect(Math.abs(numeric - analytic), `${variable.name}: numeric ${numeric}, analytic ${analytic}`).toBeLessThanOrEqual(5e-4 + tolerance * Math.abs(analytic));
          tf.dispose([direction, original]);
        }
        tf.dispose(Object.values(grads));
      });
    });
  }
}

/**
 * A method's tensors keyed as a tuned-weights file keys them (`<method>/<name>`, the head under
 * timm's keys), and the same after `toOfficialNames` and back through `fromOfficialNames` (with one
 * unrelated key beside them, which must be left alone): the round trip every `officialNames`
 * mapping passes. Returns the official state dict for the caller's own checks.
 */
export function checkOfficialRoundTrip(model: VisionTransformer, method: TuningMethod, names: OfficialNames): Map<string, HostTensor> {
  const weights = method.weights();
  const tuned = new Map<string, HostTensor>([...weights].map(([name, tensor]) => [`${method.name}/${name}`, toHostTensor(tensor)]));
  tf.dispose([...weights.values()]);
  for (const key of ['head.weight', 'head.bias']) tuned.set(key, readParameter(model.parameter(key)));
  const official = toOfficialNames(names, method.config, tuned, 'round trip');
  const other: HostTensor = { dtype: 'float32', shape: [1], data: new Float32Array([1]) };
  const { tensors, ignored } = fromOfficialNames(names, new Map([...official, ['enc.unrelated', other]]));
  expect(ignored).toEqual(['enc.unrelated']);
  expect(new Map([...tensors].sort(([a], [b]) => a.localeCompare(b)))).toEqual(new Map([...tuned].filter(([key]) => !names.unused.includes(key)).sort(([a], [b]) => a.localeCompare(b))));
  return official;
}

import * as tf from '@tensorflow/tfjs-core';
import { CheckpointMismatchError, ConfigError, ShapeError } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlatWeight, Planes } from './__fixtures__/reference-head';
import { referenceSetrPupHead } from './__fixtures__/reference-head';
import { maxDifference, values } from './__fixtures__/tiny-backbone';
import { segmentationCrossEntropy } from './segmentation-loss';
import type { SetrPupHeadConfigInput } from './setr-pup-head';
import { SetrPupHead } from './setr-pup-head';

/** Replaces every tensor of the head by random values (running variances positive), through loadWeights. */
function randomizeHead(head: SetrPupHead, seed: number): void {
  const current = head.weights();
  const random = new Map(
    [...current].map(([key, tensor], index) => [
      key,
      key.endsWith('running_var') ? tf.randomUniform(tensor.shape, 0.5, 1.5, 'float32', seed + index) : tf.randomNormal(tensor.shape, key.endsWith('norm.weight') || key.endsWith('bn.weight') ? 1 : 0, 0.5, 'float32', seed + index),
    ]),
  );
  head.loadWeights(random);
  tf.dispose([...current.values(), ...random.values()]);
}

function flatWeights(head: SetrPupHead): Map<string, FlatWeight> {
  const weights = head.weights();
  const flat = new Map([...weights].map(([key, tensor]) => [key, { data: tensor.dataSync().slice(), shape: tensor.shape }]));
  tf.dispose([...weights.values()]);
  return flat;
}

/** The head's NHWC output as NCHW nested arrays, flattened, to compare with the reference. */
function asNchw(logits: tf.Tensor4D): number[] {
  return tf.tidy(() => values(tf.transpose(logits, [0, 3, 1, 2])));
}

const TINY: SetrPupHeadConfigInput = { inChannels: 6, numClasses: 3, channels: 5, numStages: 2 };

describe('SetrPupHead', () => {
  let before: number;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => expect(tf.memory().numTensors, 'tensors leaked').toBe(before));

  it('maps [B, D, rows, columns] features to NHWC logits upsampled x16 (4 stages) or x4 (2 stages)', () => {
    const grid = tf.randomNormal([2, 6, 3, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    for (const [numStages, upScale, scale] of [
      [4, 2, 16],
      [2, 2, 4],
      [2, 4, 16],
    ] as const) {
      const head = new SetrPupHead({ ...TINY, numStages, upScale });
      const logits = head.forward(grid);
      expect(logits.shape).toEqual([2, 3 * scale, 4 * scale, 3]);
      expect(head.outputSize(3, 4)).toEqual([3 * scale, 4 * scale]);
      logits.dispose();
      head.dispose();
    }
    grid.dispose();
  });

  it('computes mmseg’s SETRUPHead: matches a float64 transcription in evaluation and training, for 3x3 and 1x1 kernels', () => {
    const grid = tf.randomNormal([2, 6, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const planes = grid.arraySync() as Planes[];
    for (const config of [TINY, { ...TINY, kernelSize: 1 as const, upScale: 3 }]) {
      const head = new SetrPupHead(config);
      randomizeHead(head, 10);
      for (const training of [false, true]) {
        // Reference weights before the pass: a training pass moves the running statistics.
        const weights = flatWeights(head);
        const logits = head.forward(grid, { training });
        const expected = referenceSetrPupHead(planes, weights, {
          key: 'decode_head',
          numStages: 2,
          upScale: head.config.upScale,
          layerNormEps: 1e-6,
          batchNormEps: 1e-5,
          training,
        });
        expect(maxDifference(asNchw(logits), expected.flat(3)), `training ${training}, kernel ${head.config.kernelSize}`).toBeLessThan(1e-4);
        logits.dispose();
      }
      head.dispose();
    }
    grid.dispose();
  });

  it('moves the BatchNorm running statistics in training passes only', () => {
    const head = new SetrPupHead(TINY);
    const grid = tf.randomNormal([2, 6, 3, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const runningMean = head.stages[0]!.norm.runningMean.variable;
    tf.dispose(head.forward(grid));
    expect(values(runningMean).every((value) => value === 0)).toBe(true);
    tf.dispose(head.forward(grid, { training: true }));
    expect(values(runningMean).some((value) => value !== 0)).toBe(true);
    head.dispose();
    grid.dispose();
  });

  it('has ViT-B’s SETR-PUP size for 150 classes and mmseg’s initialisation', () => {
    const decode = new SetrPupHead({ inChannels: 768, numClasses: 150 });
    const auxiliary = new SetrPupHead({ inChannels: 768, numClasses: 150, numStages: 2, key: 'auxiliary_head.0' });
    const layerNorm = 2 * 768;
    const firstStage = 3 * 3 * 768 * 256 + 2 * 256; // conv without bias + BatchNorm gain and shift
    const laterStage = 3 * 3 * 256 * 256 + 2 * 256;
    const classifier = 256 * 150 + 150;
    expect(decode.numParameters()).toBe(layerNorm + firstStage + 3 * laterStage + classifier);
    expect(decode.numParameters()).toBe(3_581_078);
    expect(auxiliary.numParameters()).toBe(layerNorm + firstStage + laterStage + classifier);
    expect(auxiliary.numParameters()).toBe(2_400_406);
    const std = (tensor: tf.Tensor) => tf.tidy(() => Math.sqrt(tf.moments(tensor).variance.dataSync()[0]!));
    // kaiming normal, fan_out, ReLU gain: sqrt(2 / (256 * 3 * 3)) = 0.0295.
    expect(std(decode.stages[1]!.conv.weight.variable)).toBeCloseTo(Math.sqrt(2 / (256 * 9)), 3);
    expect(std(decode.convSeg.weight.variable)).toBeCloseTo(0.01, 3);
    for (const [parameter, value] of [
      [decode.convSeg.bias!, 0],
      [decode.norm.weight, 1],
      [decode.norm.bias, 0],
      [decode.stages[0]!.norm.weight, 1],
      [decode.stages[0]!.norm.bias, 0],
      [decode.stages[0]!.norm.runningMean, 0],
      [decode.stages[0]!.norm.runningVar, 1],
    ] as const) {
      expect(values(parameter.variable).every((entry) => entry === value), parameter.key).toBe(true);
    }
    expect(decode.trainableVariables()).toHaveLength(2 + 4 * 3 + 2);
    expect(decode.trainableVariables().every((variable) => variable.trainable)).toBe(true);
    expect(decode.stages[0]!.norm.runningVar.variable.trainable).toBe(false);
    decode.dispose();
    auxiliary.dispose();
  });

  it('draws the same weights from the same seed (seed 0 included) and others from another', () => {
    const heads = [new SetrPupHead(TINY), new SetrPupHead(TINY), new SetrPupHead({ ...TINY, seed: 1 })];
    const [first, again, other] = heads.map((head) => [...head.stages[0]!.conv.weight.variable.dataSync(), ...head.convSeg.weight.variable.dataSync()]);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    heads.forEach((head) => head.dispose());
  });

  it('saves its tensors under mmseg’s keys in PyTorch’s layout and loads them back', () => {
    const head = new SetrPupHead({ ...TINY, key: 'auxiliary_head.1' });
    randomizeHead(head, 20);
    const saved = head.weights();
    const prefix = 'auxiliary_head.1';
    const stage = (index: number) =>
      ['conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'].map((name) => `${prefix}.up_convs.${index}.0.${name}`);
    expect([...saved.keys()]).toEqual([`${prefix}.norm.weight`, `${prefix}.norm.bias`, ...stage(0), ...stage(1), `${prefix}.conv_seg.weight`, `${prefix}.conv_seg.bias`]);
    const convWeight = saved.get(`${prefix}.up_convs.0.0.conv.weight`)!;
    expect(convWeight.shape).toEqual([5, 6, 3, 3]);
    expect(saved.get(`${prefix}.conv_seg.weight`)!.shape).toEqual([3, 5, 1, 1]);
    // PyTorch [out, in, ky, kx] holds what tfjs keeps at [ky, kx, in, out].
    const inner = head.stages[0]!.conv.weight.variable.arraySync() as number[][][][];
    const torch = convWeight.arraySync() as number[][][][];
    expect(torch[4]![2]![0]![1]).toBe(inner[0]![1]![2]![4]);

    const grid = tf.randomNormal([1, 6, 2, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const expected = head.forward(grid);
    const fresh = new SetrPupHead({ ...TINY, key: 'auxiliary_head.1', seed: 7 });
    fresh.loadWeights(saved);
    const restored = fresh.forward(grid);
    expect(values(restored)).toEqual(values(expected));
    tf.dispose([grid, expected, restored, ...saved.values()]);
    head.dispose();
    fresh.dispose();
  });

  it('loads only a complete, well-shaped set, checking everything before writing, and skips num_batches_tracked', () => {
    const head = new SetrPupHead(TINY);
    const saved = head.weights();
    const before = values(head.norm.weight.variable);
    const withCounter = new Map([...saved, ['decode_head.up_convs.0.0.bn.num_batches_tracked', tf.scalar(3, 'int32')]]);
    expect(() => head.loadWeights(withCounter)).not.toThrow();

    const broken = new Map(saved);
    broken.delete('decode_head.conv_seg.bias');
    broken.set('decode_head.norm.weight', tf.ones([6]));
    broken.set('decode_head.up_convs.1.0.conv.weight', tf.zeros([5, 5, 1, 1]));
    broken.set('decode_head.extra', tf.zeros([1]));
    let error: unknown;
    try {
      head.loadWeights(broken);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect((error as CheckpointMismatchError).missing).toEqual(['decode_head.conv_seg.bias']);
    expect((error as CheckpointMismatchError).unexpected).toEqual(['decode_head.extra']);
    expect((error as CheckpointMismatchError).mismatched).toEqual([{ key: 'decode_head.up_convs.1.0.conv.weight', expected: [5, 5, 3, 3], found: [5, 5, 1, 1] }]);
    expect(values(head.norm.weight.variable)).toEqual(before);
    const integer = new Map([...saved, ['decode_head.norm.bias', tf.zeros([6], 'int32')]]);
    expect(() => head.loadWeights(integer)).toThrow(/decode_head.norm.bias must be float32, got int32/);
    tf.dispose([...saved.values(), ...withCounter.values(), ...broken.values(), ...integer.values()]);
    head.dispose();
  });

  it('has gradients (weights, BatchNorm in training, dropout, the upsampling and the loss’s resize) that match central differences', () => {
    const head = new SetrPupHead({ inChannels: 4, numClasses: 3, channels: 3, numStages: 2, dropout: 0.25 });
    randomizeHead(head, 30);
    const grid = tf.tidy(() => tf.variable(tf.randomNormal([2, 4, 3, 2], 0, 1, 'float32', 5))) as tf.Variable<tf.Rank.R4>;
    // Labels at a size the head does not produce (12x8 -> 10x7), one pixel ignored.
    const labels = tf.tensor3d(Array.from({ length: 2 * 10 * 7 }, (_, index) => (index === 3 ? 255 : (index * 7) % 3)), [2, 10, 7], 'int32');
    const loss = () => segmentationCrossEntropy(head.forward(grid, { training: true, seed: 9 }), labels);
    const variables = [...head.trainableVariables(), grid];
    const { value, grads } = tf.variableGrads(loss, variables);
    value.dispose();
    for (const [index, variable] of variables.entries()) {
      const direction = tf.tidy(() => {
        const raw = tf.randomNormal(variable.shape, 0, 1, 'float32', 40 + index);
        return tf.div(raw, tf.norm(raw));
      });
      const original = variable.clone();
      const epsilon = 1e-3;
      const at = (sign: number) =>
        tf.tidy(() => {
          variable.assign(tf.add(original, tf.mul(direction, sign * epsilon)));
          return loss().dataSync()[0]!;
        });
      const numeric = (at(1) - at(-1)) / (2 * epsilon);
      variable.assign(original);
      const analytic = tf.tidy(() => tf.sum(tf.mul(grads[variable.name]!, direction)).dataSync()[0]!);
      expect(Math.abs(numeric - analytic), `variable ${index}: numeric ${numeric}, analytic ${analytic}`).toBeLessThanOrEqual(5e-4 + 2e-2 * Math.abs(analytic));
      tf.dispose([direction, original]);
    }
    tf.dispose([grid, labels, ...Object.values(grads)]);
    head.dispose();
  });

  it('drops whole channels before the classifier in training only', () => {
    const grid = tf.randomNormal([2, 6, 2, 2], 0, 1, 'float32', 6) as tf.Tensor4D;
    const plain = new SetrPupHead(TINY);
    const dropping = new SetrPupHead({ ...TINY, dropout: 0.5 });
    const saved = plain.weights();
    dropping.loadWeights(saved);
    const outputs = [plain.forward(grid), dropping.forward(grid), plain.forward(grid, { training: true }), dropping.forward(grid, { training: true, seed: 1 }), dropping.forward(grid, { training: true, seed: 1 })];
    const [evalPlain, evalDropping, trainPlain, trainDropping, trainAgain] = outputs.map(values);
    expect(evalDropping).toEqual(evalPlain);
    expect(trainDropping).not.toEqual(trainPlain);
    expect(trainAgain).toEqual(trainDropping);
    tf.dispose([grid, ...outputs, ...saved.values()]);
    plain.dispose();
    dropping.dispose();
  });

  it('refuses features of the wrong width and use after dispose', () => {
    const head = new SetrPupHead(TINY);
    const wrong = tf.zeros([1, 5, 2, 2]) as tf.Tensor4D;
    expect(() => head.forward(wrong)).toThrow(ShapeError);
    expect(() => head.forward(wrong)).toThrow(/needs features \[batch, 6, rows, columns\], got \[1, 5, 2, 2\]/);
    wrong.dispose();
    head.dispose();
    const grid = tf.zeros([1, 6, 2, 2]) as tf.Tensor4D;
    expect(() => head.forward(grid)).toThrow(ConfigError);
    grid.dispose();
  });

  it('validates every field once, naming it', () => {
    const cases: [Partial<SetrPupHeadConfigInput>, RegExp][] = [
      [{ inChannels: 0 }, /^inChannels must be an integer >= 1, got 0$/],
      [{ numClasses: 2.5 }, /^numClasses must be an integer >= 1, got 2.5$/],
      [{ channels: -1 }, /^channels must be an integer >= 1, got -1$/],
      [{ kernelSize: 5 as never }, /^kernelSize must be one of 1, 3, got 5$/],
      [{ numStages: 0 }, /^numStages must be an integer >= 1, got 0$/],
      [{ upScale: 0 }, /^upScale must be an integer >= 1, got 0$/],
      [{ dropout: 1 }, /^dropout must be a finite number in \[0, 1\), got 1$/],
      [{ layerNormEps: 0 }, /^layerNormEps must be a finite number > 0, got 0$/],
      [{ batchNormEps: -1 }, /^batchNormEps must be a finite number > 0, got -1$/],
      [{ batchNormMomentum: 1.5 }, /^batchNormMomentum must be a finite number in \[0, 1\], got 1.5$/],
      [{ key: '' }, /^key must be a non-empty string, got ""$/],
      [{ seed: -1 }, /^seed must be an integer >= 0, got -1$/],
      [{ stages: 2 } as never, /^config.stages is not an option/],
    ];
    for (const [override, message] of cases) expect(() => new SetrPupHead({ ...TINY, ...override })).toThrow(message);
  });
});

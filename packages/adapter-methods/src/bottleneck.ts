import * as tf from '@tensorflow/tfjs-core';
import type { DeclaredVariable } from '@visual-peft/vit-core';
import { linear } from '@visual-peft/vit-core';

/** One block's down-projection D -> r and up-projection r -> D, weights stored [in, out]. */
export interface Bottleneck {
  readonly downWeight: tf.Variable;
  readonly downBias: tf.Variable;
  readonly upWeight: tf.Variable;
  readonly upBias: tf.Variable;
}

export interface BottleneckInit {
  /** Initial down-projection weight of shape [dim, size]. */
  readonly down: (shape: readonly number[], seed: number) => tf.Tensor;
  /** Initial up-projection weight of shape [size, dim]. */
  readonly up: (shape: readonly number[], seed: number) => tf.Tensor;
}

type AddVariable = (name: string, initial: (seed: number) => tf.Tensor) => tf.Variable;

/** Registers `${prefix}.down.weight`, `.down.bias`, `.up.weight`, `.up.bias` (biases start at zero). */
export function createBottleneck(add: AddVariable, prefix: string, dim: number, size: number, init: BottleneckInit): Bottleneck {
  return {
    downWeight: add(`${prefix}.down.weight`, (seed) => init.down([dim, size], seed)),
    downBias: add(`${prefix}.down.bias`, () => tf.zeros([size])),
    upWeight: add(`${prefix}.up.weight`, (seed) => init.up([size, dim], seed)),
    upBias: add(`${prefix}.up.bias`, () => tf.zeros([dim])),
  };
}

/** What `createBottleneck` registers, as declared shapes (`MethodDefinition.variableShapes`). */
export function bottleneckShapes(prefix: string, dim: number, size: number): [string, DeclaredVariable][] {
  return [
    [`${prefix}.down.weight`, { shape: [dim, size] }],
    [`${prefix}.down.bias`, { shape: [size] }],
    [`${prefix}.up.weight`, { shape: [size, dim] }],
    [`${prefix}.up.bias`, { shape: [dim] }],
  ];
}

/** up(activation(down(rows))) on rows [N, D]; `activation` also carries dropout where a method has it. */
export function applyBottleneck(rows: tf.Tensor2D, weights: Bottleneck, activation: (hidden: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
  const hidden = activation(linear(rows, weights.downWeight as tf.Tensor2D, weights.downBias as tf.Tensor1D));
  return linear(hidden, weights.upWeight as tf.Tensor2D, weights.upBias as tf.Tensor1D);
}

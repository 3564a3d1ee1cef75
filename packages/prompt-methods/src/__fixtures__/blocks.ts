import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, VisionTransformer } from '@visual-peft/vit-core';

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const values = (tensor: tf.Tensor) => Array.from(tensor.dataSync());
/** Tokens [from, from + count) of a sequence, as a host array. */
export const slots = (tokens: tf.Tensor3D, from: number, count: number) => tf.tidy(() => values(tf.slice(tokens, [0, from, 0], [-1, count, -1])));
/** An evaluation pass's context at block `blockIndex`. */
export const context = (model: VisionTransformer, blockIndex: number): BlockContext => ({ training: false, seed: undefined, imageOffset: 0, recompute: false, state: new Map(), blockIndex, depth: model.config.depth });
/** Block `index` of the backbone alone (no hook) on given tokens. */
export const rawBlock = (model: VisionTransformer, index: number, tokens: tf.Tensor3D) => tf.tidy(() => model.blocks[index]!.forward(tokens, context(model, index)));

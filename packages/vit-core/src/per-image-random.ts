import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext } from './extension';
import { SeededRandom, deriveSeed } from './random';

/** What a per-image draw needs of its pass: the step's seed and where the pass's images sit in the step's batch. */
export type DrawContext = Pick<ForwardContext, 'seed' | 'imageOffset'>;

/**
 * A random site's key: a 32-bit hash of its name ('vit-core/drop-path'). Each package names its
 * own sites, so methods composed in one model never share draws while their names differ.
 */
export function randomSite(name: string): number {
  return deriveSeed(...Array.from(name, (character) => character.codePointAt(0)!));
}

/**
 * Uniform [0, 1) numbers of `shape` [B, ...], where image i's numbers depend only on (seed, site,
 * imageOffset + i): a step split into micro-batches draws exactly what the whole batch draws, and
 * `site` (a `randomSite` key, then block, branch, ...) keeps every random op of a pass apart. Drawn
 * on the host with `SeededRandom`, as tfjs's own randomUniform also fills a host buffer. Without a
 * seed the pass stays unseeded (tfjs's Math.random-based draw).
 */
export function perImageUniform(context: DrawContext, site: readonly number[], shape: readonly number[]): tf.Tensor {
  if (context.seed === undefined) return tf.randomUniform([...shape]);
  const images = shape[0]!;
  const perImage = shape.slice(1).reduce((product, extent) => product * extent, 1);
  const values = new Float32Array(images * perImage);
  for (let image = 0; image < images; image++) {
    const random = new SeededRandom(deriveSeed(context.seed, ...site, context.imageOffset + image));
    const start = image * perImage;
    for (let index = start; index < start + perImage; index++) values[index] = random.uniform();
  }
  return tf.tensor(values, [...shape], 'float32');
}

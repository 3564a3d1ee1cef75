import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, ImageBatch, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, ShapeError, flag, integer, knownOptions, oneOf, patchGrid } from '@visual-peft/vit-core';
import type { SelfPromptStrategy } from './config';
import { SELF_PROMPT_STRATEGIES } from './config';
import type { KMeansOptions } from './kmeans';
import { kMeans } from './kmeans';
import { poolWindowStarts, poolWindows } from './pool-windows';
import { SeededRandom, deriveSeed } from '@visual-peft/vit-core';
import { TokenReservoir } from './token-reservoir';

export interface SelfPromptOptions {
  /** How prompts are made from the tokens (Self-Prompt Tuning, Wang et al., ICML 2024). */
  readonly strategy: SelfPromptStrategy;
  /** Prompts per set, P. */
  readonly numPrompts: number;
  /**
   * false (default): one set, from the patch embedding (no position embedding, no CLS). true: one
   * set per block: set 1 from the patch embedding, set i from the output of block i-1 with CLS
   * removed. As in the authors' code, these blocks run on the backbone without any prompts, so the
   * earlier sets' prompts never enter the tokens of the later ones.
   */
  readonly deep?: boolean;
  /** Seed of the sampling and of k-means. Default 0. */
  readonly seed?: number;
  /** k-means: tokens sampled uniformly per set for clustering. Default 20,000. */
  readonly sampleSize?: number;
  /** Read at most this many images from the source. Default: the whole pass. */
  readonly maxImages?: number;
  /** k-means settings other than `clusters` (= numPrompts) and `seed`. */
  readonly kmeans?: Omit<KMeansOptions, 'clusters' | 'seed'>;
}

export interface SelfPromptResult {
  /** One [numPrompts, embedDim] row-major array per set. */
  readonly prompts: Float32Array[];
  /** Images read. */
  readonly images: number;
  /** Per set, the tokens (or pooled windows) the prompts were chosen from. */
  readonly candidates: number[];
  /** Per set, the k-means inertia on its token sample; null for the other strategies. */
  readonly inertia: number[] | null;
}

const OPTIONS = ['strategy', 'numPrompts', 'deep', 'seed', 'sampleSize', 'maxImages', 'kmeans'] as const;

/**
 * The token sequences each prompt set is made from, [B, N, D] per set: the patch embedding, and for
 * deep prompts the outputs of blocks 1 .. L-1 without their prefix (CLS) tokens.
 */
function tokenSets(model: VisionTransformer, images: tf.Tensor4D, sets: number): tf.Tensor3D[] {
  return tf.tidy(() => {
    const patches = model.embedPatches(images);
    if (sets === 1) return [patches];
    const numPatches = patches.shape[1];
    const { intermediates } = model.forwardIntermediates(images, {
      indices: Array.from({ length: sets - 1 }, (_, block) => block),
      format: 'tokens',
    });
    const blockTokens = intermediates.map((tokens) => {
      const count = tokens.shape[1]!;
      return tf.slice(tokens as tf.Tensor3D, [0, count - numPatches, 0], [-1, numPatches, -1]);
    });
    return [patches, ...blockTokens];
  });
}

function checkBatch(batch: ImageBatch, model: VisionTransformer): void {
  const [count, channels, height, width] = batch.shape;
  const { inChans, imgSize } = model.config;
  if (channels !== inChans || height !== imgSize[0] || width !== imgSize[1] || batch.images.length !== count * channels * height * width) {
    throw new ShapeError(
      `batch images must be [batch, ${inChans}, ${imgSize[0]}, ${imgSize[1]}] with as many values, got shape [${batch.shape.join(', ')}] and ${batch.images.length} values`,
    );
  }
}

/**
 * Self-Prompt Tuning's initialisation: prompts built from the target training data's own tokens,
 * streamed from `source` (its epoch-0 pass) with memory bounded by the sample sizes.
 * - 'kmeans': centroids of a uniform sample of `sampleSize` tokens (see `kMeans`);
 * - 'mean-pool' / 'max-pool': each image's tokens pooled in windows (`poolWindows`), then P of all
 *   images' pooled vectors at random;
 * - 'random-token': P tokens at random.
 * Run it on the backbone without the prompt method (attached and switched off by
 * `model.disableExtensions`, as `PromptTuning.prepare` does, or not attached).
 */
export async function selfPromptInit(model: VisionTransformer, source: BatchSource, options: SelfPromptOptions): Promise<SelfPromptResult> {
  knownOptions('selfPromptInit', options, OPTIONS);
  const strategy = oneOf('strategy', options.strategy, SELF_PROMPT_STRATEGIES);
  const numPrompts = integer('numPrompts', options.numPrompts, 1);
  const sets = flag('deep', options.deep ?? false) ? model.config.depth : 1;
  const seed = integer('seed', options.seed ?? 0, 0);
  const sampleSize = integer('sampleSize', options.sampleSize ?? 20_000, 1);
  const maxImages = options.maxImages === undefined ? Infinity : integer('maxImages', options.maxImages, 1);
  const dim = model.config.embedDim;
  const [rows, columns] = patchGrid(model.config);
  const numPatches = rows * columns;
  const pooling = strategy === 'mean-pool' || strategy === 'max-pool';
  if (pooling) poolWindowStarts(numPatches, numPrompts);

  const capacity = strategy === 'kmeans' ? sampleSize : numPrompts;
  const reservoirs = Array.from({ length: sets }, (_, set) => new TokenReservoir(capacity, dim, new SeededRandom(deriveSeed(seed, set))));
  let images = 0;
  for await (const batch of source(0)) {
    if (images >= maxImages) break;
    checkBatch(batch, model);
    const [size, channels, height, width] = batch.shape;
    const take = Math.min(size, maxImages - images);
    const pixels = tf.tensor4d(batch.images.subarray(0, take * channels * height * width), [take, channels, height, width]);
    const tokens = tokenSets(model, pixels, sets);
    pixels.dispose();
    for (const [set, setTokens] of tokens.entries()) {
      const values = (await setTokens.data()) as Float32Array;
      setTokens.dispose();
      const reservoir = reservoirs[set]!;
      if (pooling) {
        for (let image = 0; image < take; image++) {
          const pooled = poolWindows(values.subarray(image * numPatches * dim), numPatches, dim, numPrompts, strategy === 'max-pool' ? 'max' : 'mean');
          reservoir.offer(pooled, 0, pooled.length / dim);
        }
      } else {
        reservoir.offer(values, 0, take * numPatches);
      }
    }
    images += take;
  }
  if (images === 0) throw new ConfigError('source', 'empty', 'must yield at least one image');

  const inertia: number[] = [];
  const prompts = reservoirs.map((reservoir, set) => {
    if (reservoir.size < numPrompts) {
      throw new ConfigError('numPrompts', numPrompts, `must not exceed the ${pooling ? 'pooled windows' : 'tokens'} the data gave (${reservoir.size})`);
    }
    if (strategy !== 'kmeans') return reservoir.sample().slice();
    const result = kMeans(reservoir.sample(), dim, { ...options.kmeans, clusters: numPrompts, seed: seed + set });
    inertia.push(result.inertia);
    return result.centroids;
  });
  return { prompts, images, candidates: reservoirs.map((reservoir) => reservoir.seen), inertia: strategy === 'kmeans' ? inertia : null };
}

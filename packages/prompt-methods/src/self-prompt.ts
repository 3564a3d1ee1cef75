import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, ImageBatch, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, SeededRandom, ShapeError, deriveSeed, flag, integer, knownOptions, oneOf, patchGrid } from '@visual-peft/vit-core';
import type { SelfPromptStrategy } from './config';
import { SELF_PROMPT_STRATEGIES, promptBlockIndex } from './config';
import type { KMeansOptions } from './kmeans';
import { kMeans } from './kmeans';
import { poolBatchTokens } from './pool-windows';
import { TokenReservoir } from './token-reservoir';

export interface SelfPromptOptions {
  /** How prompts are made from the tokens (Self-Prompt Tuning, Wang et al., ICML 2024). */
  readonly strategy: SelfPromptStrategy;
  /** Prompts per set, P. */
  readonly numPrompts: number;
  /**
   * false (default): one set, from the tokens entering block `promptBlock` (block 0: the patch
   * embedding, no position embedding, no CLS). true: one set per block: set 1 from the patch
   * embedding, set i from the output of block i-1 with CLS removed. As in the authors' code, these
   * blocks run on the backbone without any prompts, so the earlier sets' prompts never enter the
   * tokens of the later ones.
   */
  readonly deep?: boolean;
  /**
   * Shallow only: the block (0-based) the prompts enter, so the set is made from the patch tokens
   * entering it (the output of block promptBlock - 1 without CLS). Default 0.
   */
  readonly promptBlock?: number;
  /** Seed of the sampling and of k-means. Default 0. */
  readonly seed?: number;
  /** k-means: tokens sampled uniformly per set for clustering. Default 20,000. */
  readonly sampleSize?: number;
  /** Read at most this many images from the source. Default: the whole pass (k-means) or the whole first batch. */
  readonly maxImages?: number;
  /** k-means settings other than `clusters` (= numPrompts) and `seed`. */
  readonly kmeans?: Omit<KMeansOptions, 'clusters' | 'seed'>;
}

export interface SelfPromptResult {
  /** One [numPrompts, embedDim] row-major array per set. */
  readonly prompts: Float32Array[];
  /** Images read (and run through the backbone once each). */
  readonly images: number;
  /** Per set, the tokens the prompts were made from (k-means: the tokens streamed; the others: N_e * B). */
  readonly candidates: number[];
  /** Per set, the k-means inertia on its token sample; null for the other strategies. */
  readonly inertia: number[] | null;
}

const OPTIONS = ['strategy', 'numPrompts', 'deep', 'promptBlock', 'seed', 'sampleSize', 'maxImages', 'kmeans'] as const;

/**
 * The patch tokens each prompt set is made from, [B, N, D] per entry block: block 0's are the patch
 * embedding; block b's the output of block b-1 without its prefix (CLS and the tokens of other
 * switched-on prompt methods). One forward pass of the backbone serves every block.
 */
function tokenSets(model: VisionTransformer, images: tf.Tensor4D, entryBlocks: readonly number[]): tf.Tensor3D[] {
  return tf.tidy(() => {
    const patches = model.embedPatches(images);
    const numPatches = patches.shape[1];
    const later = entryBlocks.filter((block) => block > 0);
    const { intermediates } =
      later.length === 0 ? { intermediates: [] as tf.Tensor[] } : model.forwardIntermediates(images, { indices: later.map((block) => block - 1), format: 'tokens' });
    return entryBlocks.map((block) => {
      if (block === 0) return patches;
      const tokens = intermediates[later.indexOf(block)] as tf.Tensor3D;
      return tf.slice(tokens, [0, tokens.shape[1] - numPatches, 0], [-1, numPatches, -1]);
    });
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
 * Self-Prompt Tuning's initialisation: prompts built from the target training data's own tokens
 * (SPT, Wang et al., ICML 2024, Sec. "Self-Prompt Tuning" and its "more practical" strategies).
 * - 'kmeans': the paper clusters every training token; here the centroids of a uniform sample of
 *   `sampleSize` tokens streamed from the whole pass of `source(0)` (see `kMeans`);
 * - 'mean-pool' / 'max-pool': one batch (the first of `source(0)`: pass a shuffled source for the
 *   paper's randomly selected batch) in one forward pass; its N_e * B tokens pooled with the
 *   paper's kernel floor(N_e * B / N_p) into N_p prompts (`poolBatchTokens`);
 * - 'random-token': N_p tokens drawn uniformly, without replacement, from that batch's N_e * B.
 * The paper's point (its Table 1, the time cost of constructing prompts) is that these three cost
 * one forward batch, where k-means over the split takes days.
 * Run it on the backbone without the prompt method (attached and switched off by
 * `model.disableExtensions`, as `PromptTuning.prepare` does, or not attached).
 */
export async function selfPromptInit(model: VisionTransformer, source: BatchSource, options: SelfPromptOptions): Promise<SelfPromptResult> {
  knownOptions('selfPromptInit', options, OPTIONS);
  const strategy = oneOf('strategy', options.strategy, SELF_PROMPT_STRATEGIES);
  const numPrompts = integer('numPrompts', options.numPrompts, 1);
  const deep = flag('deep', options.deep ?? false);
  const { depth, embedDim: dim } = model.config;
  const promptBlock = promptBlockIndex(options.promptBlock ?? 0, depth);
  if (deep && promptBlock !== 0) throw new ConfigError('promptBlock', promptBlock, 'must be 0 for deep prompts (a set enters every block)');
  const entryBlocks = deep ? Array.from({ length: depth }, (_, block) => block) : [promptBlock];
  const seed = integer('seed', options.seed ?? 0, 0);
  const sampleSize = integer('sampleSize', options.sampleSize ?? 20_000, 1);
  const maxImages = options.maxImages === undefined ? Infinity : integer('maxImages', options.maxImages, 1);
  const [rows, columns] = patchGrid(model.config);
  const numPatches = rows * columns;
  const oneBatch = strategy !== 'kmeans';

  // k-means keeps a uniform sample of every token streamed; random-token a uniform sample of P of
  // the batch's tokens; pooling keeps the batch's tokens as they are.
  const capacity = strategy === 'kmeans' ? sampleSize : strategy === 'random-token' ? numPrompts : Infinity;
  const reservoirs = Array.from({ length: entryBlocks.length }, (_, set) => new TokenReservoir(capacity, dim, new SeededRandom(deriveSeed(seed, set))));
  let images = 0;
  for await (const batch of source(0)) {
    if (images >= maxImages) break;
    checkBatch(batch, model);
    const [size, channels, height, width] = batch.shape;
    const take = Math.min(size, maxImages - images);
    const pixels = tf.tensor4d(batch.images.subarray(0, take * channels * height * width), [take, channels, height, width]);
    const tokens = tokenSets(model, pixels, entryBlocks);
    pixels.dispose();
    for (const [set, setTokens] of tokens.entries()) {
      const values = (await setTokens.data()) as Float32Array;
      setTokens.dispose();
      reservoirs[set]!.offer(values, 0, take * numPatches);
    }
    images += take;
    // The paper's practical strategies read one batch: one forward pass.
    if (oneBatch) break;
  }
  if (images === 0) throw new ConfigError('source', 'empty', 'must yield at least one image');

  const inertia: number[] = [];
  const prompts = reservoirs.map((reservoir, set) => {
    if (strategy === 'mean-pool' || strategy === 'max-pool') {
      return poolBatchTokens(reservoir.sample(), reservoir.size, dim, numPrompts, strategy === 'max-pool' ? 'max' : 'mean');
    }
    if (reservoir.size < numPrompts) throw new ConfigError('numPrompts', numPrompts, `must not exceed the tokens the data gave (${reservoir.size})`);
    if (strategy === 'random-token') return reservoir.sample().slice();
    const result = kMeans(reservoir.sample(), dim, { ...options.kmeans, clusters: numPrompts, seed: seed + set });
    inertia.push(result.inertia);
    return result.centroids;
  });
  return { prompts, images, candidates: reservoirs.map((reservoir) => reservoir.seen), inertia: strategy === 'kmeans' ? inertia : null };
}

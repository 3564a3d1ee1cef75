import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, VisionTransformer, VitExtension } from '@visual-peft/vit-core';
import type { SeededRandom } from '@visual-peft/vit-core';
import { ConfigError, ShapeError, integer, numPrefixTokens, oneOf } from '@visual-peft/vit-core';
import type { ChannelScore, ChannelSelection, TuningPosition } from './config';

/** The importance of every channel of every block at one tuning position. */
export interface ChannelImportance {
  readonly position: TuningPosition;
  /** The score computed: CAIS ('class-aware') or the dataset-level score ('dataset'). */
  readonly score: ChannelScore;
  /** One score per channel for each block ([depth][embedDim]). */
  readonly scores: readonly Float32Array[];
  /** Images seen per class; classes with none do not enter the average. */
  readonly classCounts: Int32Array;
}

/**
 * Channel importance (SCT, Sec. 3.2): one pass of the frozen model over the training split without
 * augmentation. At each block, the features at the tuning position with CLS dropped.
 * - 'class-aware' (default, CAIS, Eq. 1-2): for each class c, the score of channel i is the L2 norm of
 *   channel i over all of c's images and tokens; the block's score is the mean over classes.
 * - 'dataset': the whole split as one unit (Eq. 1 with every image in one group), the L2 norm of
 *   channel i over all images and tokens: the dataset-level score of Sec. 3.2 and Table 7, which
 *   weighs classes by their size, so an imbalanced split leans to its largest classes.
 * Streams: only per-class sums of squares ([classes, D] per block) are kept, so memory does not grow
 * with the dataset; both scores come from them.
 */
export async function computeChannelImportance(
  model: VisionTransformer,
  source: BatchSource,
  options: { readonly position?: TuningPosition; readonly numClasses: number; readonly score?: ChannelScore },
): Promise<ChannelImportance> {
  const position = options.position ?? 'attn';
  const score = oneOf('score', options.score ?? 'class-aware', ['class-aware', 'dataset'] as const);
  const { numClasses } = options;
  integer('numClasses', numClasses, 1);
  const { depth, embedDim } = model.config;
  const prefix = numPrefixTokens(model.config);
  const sums = Array.from({ length: depth }, () => new Float64Array(numClasses * embedDim));
  const classCounts = new Int32Array(numClasses);
  let oneHot: tf.Tensor2D | null = null;
  const perBlock: tf.Tensor2D[] = [];
  const observer: VitExtension = {
    name: 'channel-importance',
    residual: (site, stream, context) => {
      if (site === position && oneHot !== null) {
        // [B, D] sums of squares over the patch (and prompt) tokens, then per class: onehot^T . that.
        const squares = tf.sum(tf.square(tf.slice(stream, [0, prefix, 0], [-1, -1, -1])), 1);
        perBlock[context.blockIndex] = tf.keep(tf.matMul(oneHot, squares, true, false));
      }
      return stream;
    },
  };
  model.attach(observer);
  try {
    for await (const batch of source(0)) {
      for (const label of batch.labels) {
        if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
          throw new ShapeError(`labels must lie in [0, ${numClasses - 1}] (numClasses ${numClasses}), got ${label}`);
        }
        classCounts[label]! += 1;
      }
      oneHot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), numClasses), 'float32') as tf.Tensor2D);
      const images = tf.tensor4d(batch.images, [...batch.shape]);
      tf.dispose(model.forwardFeatures(images));
      images.dispose();
      for (let block = 0; block < depth; block++) {
        const values = await perBlock[block]!.data();
        const target = sums[block]!;
        for (let i = 0; i < values.length; i++) target[i]! += values[i]!;
      }
      tf.dispose([oneHot, perBlock]);
      oneHot = null;
    }
  } finally {
    model.detach(observer);
    tf.dispose([oneHot ?? [], perBlock]);
  }
  const present = [...classCounts.keys()].filter((c) => classCounts[c]! > 0);
  if (present.length === 0) throw new ShapeError('the importance pass saw no images: the batch source is empty');
  const scores = sums.map((sum) => {
    const values = new Float32Array(embedDim);
    for (let channel = 0; channel < embedDim; channel++) {
      let total = 0;
      if (score === 'dataset') {
        for (const c of present) total += sum[c * embedDim + channel]!;
        values[channel] = Math.sqrt(total);
      } else {
        for (const c of present) total += Math.sqrt(sum[c * embedDim + channel]!);
        values[channel] = total / present.length;
      }
    }
    return values;
  });
  return { position, score, scores, classCounts };
}

/**
 * The K channels of one block, in ascending order. 'salient': the K highest scores (with distinct
 * scores, exactly the channels above the (K+1)-th largest, as the released code keeps them); ties
 * go to the lower index. 'insalient': the K lowest. 'random': K drawn with `random`.
 */
export function selectChannels(
  scores: Float32Array | null,
  k: number,
  selection: ChannelSelection,
  channels: number,
  random?: SeededRandom,
): Int32Array {
  if (!Number.isInteger(k) || k < 1 || k > channels) throw new ConfigError('k', k, `must be an integer in [1, ${channels}]`);
  let order = Array.from({ length: channels }, (_, index) => index);
  if (selection === 'random') {
    if (random === undefined) throw new ConfigError('random', random, 'must be a generator for random selection');
    order = Array.from(random.permutation(channels));
  } else {
    if (scores === null || scores.length !== channels) {
      throw new ShapeError(`${selection} selection needs ${channels} importance scores, got ${scores?.length ?? 'none'}`);
    }
    const sign = selection === 'salient' ? -1 : 1;
    order.sort((a, b) => sign * (scores[a]! - scores[b]!) || a - b);
  }
  return Int32Array.from(order.slice(0, k)).sort();
}

/** The importance map as plain JSON, for plots (the paper's Figure 3). */
export function importanceToJson(importance: ChannelImportance): { position: TuningPosition; score: ChannelScore; scores: number[][]; classCounts: number[] } {
  return {
    position: importance.position,
    score: importance.score,
    scores: importance.scores.map((block) => Array.from(block)),
    classCounts: Array.from(importance.classCounts),
  };
}

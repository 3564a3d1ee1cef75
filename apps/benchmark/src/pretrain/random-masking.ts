import type { SeededRandom } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';

/** MAE's random masking of one batch, as host index arrays (He et al. 2022, sec. 3). */
export interface RandomMasking {
  readonly batch: number;
  readonly numPatches: number;
  /** Visible patches per image: floor(numPatches * (1 - maskRatio)), as MAE computes len_keep. */
  readonly keepCount: number;
  /** [batch, keepCount]: the visible patches' indices, in each image's shuffled order. */
  readonly keep: Int32Array;
  /** [batch, numPatches]: 1 where the patch is masked (the loss counts it), 0 where it is visible. */
  readonly mask: Float32Array;
  /**
   * [batch, numPatches]: where patch j sits in the shuffled sequence [visible..., masked...]; gathering
   * that sequence with it restores the image's patch order (MAE's ids_restore).
   */
  readonly restore: Int32Array;
}

/**
 * Per-sample random masking: each image gets its own uniformly random permutation of the patches,
 * the first keepCount of which stay visible. Drawn on the host from a seeded generator, so a
 * resumed run masks exactly as an uninterrupted one.
 */
export function randomMasking(batch: number, numPatches: number, maskRatio: number, random: SeededRandom): RandomMasking {
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError('batch', batch, 'must be a positive integer');
  if (!Number.isInteger(numPatches) || numPatches < 1) throw new ConfigError('numPatches', numPatches, 'must be a positive integer');
  if (!(maskRatio >= 0 && maskRatio < 1)) throw new ConfigError('maskRatio', maskRatio, 'must be in [0, 1)');
  const keepCount = Math.floor(numPatches * (1 - maskRatio));
  if (keepCount < 1) throw new ConfigError('maskRatio', maskRatio, `must leave at least one of the ${numPatches} patches visible`);
  const keep = new Int32Array(batch * keepCount);
  const mask = new Float32Array(batch * numPatches);
  const restore = new Int32Array(batch * numPatches);
  for (let sample = 0; sample < batch; sample++) {
    const order = random.permutation(numPatches);
    keep.set(order.subarray(0, keepCount), sample * keepCount);
    order.forEach((patch, position) => {
      restore[sample * numPatches + patch] = position;
      mask[sample * numPatches + patch] = position < keepCount ? 0 : 1;
    });
  }
  return { batch, numPatches, keepCount, keep, mask, restore };
}

import { ConfigError, integer, knownOptions, numberInRange, oneOf } from '@visual-peft/vit-core';

/** Where a salient channel module edits the residual stream of a block. */
export type TuningPosition = 'attn' | 'mlp';

/** How channels are chosen: by CAIS (the method), or the paper's ablations. */
export type ChannelSelection = 'salient' | 'insalient' | 'random';

/**
 * The importance score channels are ranked by. 'class-aware': CAIS (SCT, Sec. 3.2, Eq. 1-2), each
 * channel's L2 norm per class, averaged over the classes. 'dataset': the whole training split as one
 * unit, each channel's L2 norm over all its images and tokens (Eq. 1 with every image in one group),
 * the dataset-level score SCT compares CAIS with (Sec. 3.2, Sec. 4.3 and Table 7).
 */
export type ChannelScore = 'class-aware' | 'dataset';

/**
 * Salient Channel Tuning (SCT, arXiv 2309.08513). One K x K linear map per block on the block's K
 * most important channels (class-aware importance score), added back in place.
 */
export interface SalientChannelConfig {
  /**
   * Channels tuned per tuned block (the last `lastBlocks`, in block order), one value for every one
   * or one each. Default 96 (the paper's 0.11M on ViT-B); 192 gives 0.44M and 32 gives 0.01M; Table 1
   * also mixes, e.g. [192 x4, 96 x8].
   */
  readonly k: readonly number[];
  /**
   * How many blocks, counted from the last, get modules: the paper's insertion-depth ablation
   * (SCT, Sec. 4.3, Figure 9: SCTM in the last l blocks of ViT-B). Default: every block.
   */
  readonly lastBlocks: number;
  /**
   * 'attn' (default, the released code): the residual stream after attention, i.e. the input of
   * norm2; 'mlp': after the MLP (the block's output); 'both': a module at each.
   */
  readonly position: 'attn' | 'mlp' | 'both';
  /** Multiplier of the module's output. Default 1 (the released ViT code); the paper searches 0.1 ... 1.0. */
  readonly scale: number;
  /** 'salient' (default): top-K by the score; 'insalient': lowest K; 'random': K at random (RC ablation). */
  readonly selection: ChannelSelection;
  /** The score 'salient' and 'insalient' rank by: 'class-aware' (default, CAIS) or 'dataset' (Table 7's comparison). */
  readonly score: ChannelScore;
  /** Seed of the weight initialisation and of random selection. Default 0. */
  readonly seed: number;
}

export interface SalientChannelConfigInput {
  /** A number, a list, or a string such as "96", "192,192,96" or the paper's "192x4,96x8". */
  readonly k?: number | readonly number[] | string;
  readonly lastBlocks?: number;
  readonly position?: SalientChannelConfig['position'];
  readonly scale?: number;
  readonly selection?: ChannelSelection;
  /** Not with 'random' selection, which ranks nothing. */
  readonly score?: ChannelScore;
  readonly seed?: number;
}

const SCT_OPTIONS = ['k', 'lastBlocks', 'position', 'scale', 'selection', 'score', 'seed'];

function parseChannelCounts(k: number | readonly number[] | string): number[] {
  if (typeof k === 'number') return [k];
  if (typeof k !== 'string') return [...k];
  return k.split(',').flatMap((part) => {
    const match = /^\s*(\d+)\s*(?:x\s*(\d+))?\s*$/.exec(part);
    if (match === null) throw new ConfigError('k', k, 'must be a number, a comma-separated list, or runs like "192x4,96x8"');
    return new Array<number>(Number(match[2] ?? 1)).fill(Number(match[1]));
  });
}

/** Validates a config once against the backbone it will tune (depth, width) and fills the defaults. */
export function resolveSalientChannelConfig(
  input: SalientChannelConfigInput,
  backbone: { readonly depth: number; readonly embedDim: number },
): SalientChannelConfig {
  knownOptions('sct', input, SCT_OPTIONS);
  const lastBlocks = integer('lastBlocks', input.lastBlocks ?? backbone.depth, 1);
  if (lastBlocks > backbone.depth) throw new ConfigError('lastBlocks', lastBlocks, `must be at most the backbone's depth (${backbone.depth} blocks)`);
  // The default is reported as the value when it does not fit the backbone (96 > a narrow model's width).
  const given = input.k ?? 96;
  const counts = parseChannelCounts(given);
  const k = counts.length === 1 ? new Array<number>(lastBlocks).fill(counts[0]!) : counts;
  if (k.length !== lastBlocks) {
    const blocks = lastBlocks === backbone.depth ? `${lastBlocks} blocks` : `${lastBlocks} tuned blocks, the last of ${backbone.depth}`;
    throw new ConfigError('k', given, `must give one value or one per tuned block (${blocks}), got ${k.length} values`);
  }
  for (const value of k) {
    if (!Number.isInteger(value) || value < 1 || value > backbone.embedDim) {
      throw new ConfigError('k', given, `must hold integers in [1, embedDim = ${backbone.embedDim}]`);
    }
  }
  const selection = oneOf('selection', input.selection ?? 'salient', ['salient', 'insalient', 'random'] as const);
  const score = oneOf('score', input.score ?? 'class-aware', ['class-aware', 'dataset'] as const);
  // A score given with random selection would be silently ignored.
  if (selection === 'random' && input.score !== undefined) throw new ConfigError('score', input.score, "must be left out with selection 'random' (it ranks nothing)");
  return {
    k,
    lastBlocks,
    position: oneOf('position', input.position ?? 'attn', ['attn', 'mlp', 'both'] as const),
    scale: numberInRange('scale', input.scale ?? 1),
    selection,
    score,
    seed: integer('seed', input.seed ?? 0),
  };
}

/** The indices of the blocks a config puts modules in (the last `lastBlocks` of `depth`), ascending. */
export function tunedBlocks(config: Pick<SalientChannelConfig, 'lastBlocks'>, depth: number): number[] {
  return Array.from({ length: config.lastBlocks }, (_, i) => depth - config.lastBlocks + i);
}

/** The positions a config tunes, in block order. */
export function tunedPositions(config: Pick<SalientChannelConfig, 'position'>): TuningPosition[] {
  return config.position === 'both' ? ['attn', 'mlp'] : [config.position];
}

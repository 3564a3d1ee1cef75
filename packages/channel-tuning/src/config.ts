import { ConfigError, integer, knownOptions, numberInRange, oneOf } from '@visual-peft/vit-core';

/** Where a salient channel module edits the residual stream of a block. */
export type TuningPosition = 'attn' | 'mlp';

/** How channels are chosen: by CAIS (the method), or the paper's ablations. */
export type ChannelSelection = 'salient' | 'insalient' | 'random';

/**
 * Salient Channel Tuning (SCT, arXiv 2309.08513). One K x K linear map per block on the block's K
 * most important channels (class-aware importance score), added back in place.
 */
export interface SalientChannelConfig {
  /**
   * Channels tuned per block, one value for every block or one per block. Default 96 (the paper's
   * 0.11M on ViT-B); 192 gives 0.44M and 32 gives 0.01M; Table 1 also mixes, e.g. [192 x4, 96 x8].
   */
  readonly k: readonly number[];
  /**
   * 'attn' (default, the released code): the residual stream after attention, i.e. the input of
   * norm2; 'mlp': after the MLP (the block's output); 'both': a module at each.
   */
  readonly position: 'attn' | 'mlp' | 'both';
  /** Multiplier of the module's output. Default 1 (the released ViT code); the paper searches 0.1 ... 1.0. */
  readonly scale: number;
  /** 'salient' (default): top-K by CAIS; 'insalient': lowest K; 'random': K at random (RC ablation). */
  readonly selection: ChannelSelection;
  /** Seed of the weight initialisation and of random selection. Default 0. */
  readonly seed: number;
}

export interface SalientChannelConfigInput {
  /** A number, a list, or a string such as "96", "192,192,96" or the paper's "192x4,96x8". */
  readonly k?: number | readonly number[] | string;
  readonly position?: SalientChannelConfig['position'];
  readonly scale?: number;
  readonly selection?: ChannelSelection;
  readonly seed?: number;
}

const SCT_OPTIONS = ['k', 'position', 'scale', 'selection', 'seed'];

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
  // The default is reported as the value when it does not fit the backbone (96 > a narrow model's width).
  const given = input.k ?? 96;
  const counts = parseChannelCounts(given);
  const k = counts.length === 1 ? new Array<number>(backbone.depth).fill(counts[0]!) : counts;
  if (k.length !== backbone.depth) {
    throw new ConfigError('k', given, `must give one value or one per block (${backbone.depth} blocks), got ${k.length} values`);
  }
  for (const value of k) {
    if (!Number.isInteger(value) || value < 1 || value > backbone.embedDim) {
      throw new ConfigError('k', given, `must hold integers in [1, embedDim = ${backbone.embedDim}]`);
    }
  }
  return {
    k,
    position: oneOf('position', input.position ?? 'attn', ['attn', 'mlp', 'both'] as const),
    scale: numberInRange('scale', input.scale ?? 1),
    selection: oneOf('selection', input.selection ?? 'salient', ['salient', 'insalient', 'random'] as const),
    seed: integer('seed', input.seed ?? 0),
  };
}

/** The positions a config tunes, in block order. */
export function tunedPositions(config: Pick<SalientChannelConfig, 'position'>): TuningPosition[] {
  return config.position === 'both' ? ['attn', 'mlp'] : [config.position];
}

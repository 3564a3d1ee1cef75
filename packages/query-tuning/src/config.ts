import { ConfigError, integer, knownOptions, rate } from '@visual-peft/vit-core';

/** Visual Query Tuning (VQT, Tu et al., CVPR 2023). */
export interface VisualQueryConfig {
  /** Query tokens per block, one value for every block or one per block. Default 1; 10-20 for some structured tasks. */
  readonly numQueries: readonly number[];
  /** Dropout on the query tokens in training. Default 0.1 (the paper's). */
  readonly dropout: number;
  /** Classes of VQT's own linear head. Default: the backbone's head. */
  readonly numClasses: number;
  /** Seed of the query and head initialisation. Default 0. */
  readonly seed: number;
}

export interface VisualQueryConfigInput {
  readonly numQueries?: number | readonly number[];
  readonly dropout?: number;
  readonly numClasses?: number;
  readonly seed?: number;
}

const VQT_OPTIONS = ['numQueries', 'dropout', 'numClasses', 'seed'];

/** Validates the config against the backbone (depth, its head's classes) and fills the defaults. */
export function resolveVisualQueryConfig(
  input: VisualQueryConfigInput,
  backbone: { readonly depth: number; readonly numClasses: number },
): VisualQueryConfig {
  knownOptions('vqt', input, VQT_OPTIONS);
  const raw = input.numQueries ?? 1;
  const numQueries = typeof raw === 'number' ? new Array<number>(backbone.depth).fill(raw) : [...raw];
  if (numQueries.length !== backbone.depth) {
    throw new ConfigError('numQueries', raw, `must give one value or one per block (${backbone.depth} blocks)`);
  }
  if (!numQueries.every((count) => Number.isInteger(count) && count >= 1)) {
    throw new ConfigError('numQueries', raw, 'must hold positive integers');
  }
  if (input.numClasses === undefined && backbone.numClasses === 0) {
    throw new ConfigError('numClasses', undefined, "must be set: the backbone's head has no classes");
  }
  return {
    numQueries,
    dropout: rate('dropout', input.dropout ?? 0.1),
    numClasses: integer('numClasses', input.numClasses ?? backbone.numClasses, 1),
    seed: integer('seed', input.seed ?? 0),
  };
}

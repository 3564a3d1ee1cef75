import { ConfigError, flag, integer, knownOptions, numberInRange, oneOf, positiveNumber, rate } from '@visual-peft/vit-core';

/** Self-Prompt Tuning's ways of building prompts from the target data's tokens. */
export type SelfPromptStrategy = 'kmeans' | 'mean-pool' | 'max-pool' | 'random-token';

/** 'uniform': VPT's random initialisation; otherwise one of Self-Prompt Tuning's strategies. */
export type PromptInit = 'uniform' | SelfPromptStrategy;

export const SELF_PROMPT_STRATEGIES: readonly SelfPromptStrategy[] = ['kmeans', 'mean-pool', 'max-pool', 'random-token'];
export const PROMPT_INITS: readonly PromptInit[] = ['uniform', ...SELF_PROMPT_STRATEGIES];

/** How the prompts start: the fields VPT and Gated Prompt Tuning share. */
export type PromptInitConfig = {
  /** Prompt tokens per set, P. Default 5 (the VPT code's default); GatedPT's tables use 100, SPT 100 shallow and 20 deep. */
  readonly numPrompts: number;
  /** Dropout on the prompt tokens in training. Default 0 (VPT code); GatedPT's runs use 0.1. */
  readonly dropout: number;
  /**
   * 'uniform' (default): uniform(-v, v), v = sqrt(6 / (3 p^2 + D)), as VPT. Any other value is
   * Self-Prompt Tuning: the prompts come from the training data's tokens by k-means ('kmeans', the
   * paper's best), 'mean-pool', 'max-pool' or 'random-token', computed by `prepare(source)`.
   */
  readonly init: PromptInit;
  /**
   * k-means only: tokens per prompt set sampled (uniformly, in one pass) from the data for
   * clustering. Default 20,000. The paper clusters every training token, which takes days.
   */
  readonly sampleSize: number;
  /** Seed of the uniform draw and of Self-Prompt Tuning's sampling and k-means. Default 0. */
  readonly seed: number;
  /**
   * The block (0-based) at whose entry the shallow prompts are inserted; blocks before it run on
   * CLS and the patches alone. Default 0 (VPT-shallow, GatedPT). GatedPT's Figure 1 sweeps it
   * (MAE and MoCo v3 gain most when prompts first meet block 11 and 8 of ViT-B/16, 1-based).
   * Must be below the model's depth (checked when the method is built); deep prompts need 0.
   */
  readonly promptBlock: number;
};

/** Visual Prompt Tuning (Jia et al. 2022): P learnable tokens after CLS, in the first block or in every block. */
export type VptConfig = PromptInitConfig & {
  /**
   * false: VPT-shallow, one set entering block 1 and flowing through all blocks. true: VPT-deep,
   * a set per block; before block i >= 2 the prompt outputs of block i-1 are replaced by set i.
   * Default false.
   */
  readonly deep: boolean;
};

/**
 * Gated Prompt Tuning with adaptive attention shaping (Yoo et al., ICML 2023): shallow prompts,
 * a gate after every block but the last mixing the prompts' block output with their block input,
 * and a learnable attention temperature per block.
 */
export type GatedPromptConfig = PromptInitConfig & {
  /** The L-1 gates on the prompt slots. Default true; off, only the temperatures remain (the paper's ablation). */
  readonly gates: boolean;
  /**
   * Gate logits start at -gateInit, so g = sigmoid(-gateInit). Default 10 (the authors' code);
   * the README's runs use 5 (g ~ 0.0067: prompts start almost bypassing the blocks).
   */
  readonly gateInit: number;
  /** Learnable temperature tau_l per block, init 1, clamped to [0.01, 10] before each forward. Default true. */
  readonly temperature: boolean;
  /**
   * Hard gates: 0/1 gates from a Gumbel-sigmoid with straight-through gradients (the paper's
   * Table 4 ablation; not in the authors' code). Default false (soft gates, sigmoid of the logit).
   */
  readonly hardGates: boolean;
  /** Temperature of the Gumbel-sigmoid of hard gates. Default 1 (the paper does not give one). */
  readonly hardGateTemperature: number;
};

export type VptConfigInput = Partial<VptConfig>;
export type GatedPromptConfigInput = Partial<GatedPromptConfig>;

const INIT_FIELDS = ['numPrompts', 'dropout', 'init', 'sampleSize', 'seed', 'promptBlock'] as const;
const VPT_FIELDS = [...INIT_FIELDS, 'deep'] as const;
const GATED_FIELDS = [...INIT_FIELDS, 'gates', 'gateInit', 'temperature', 'hardGates', 'hardGateTemperature'] as const;

function resolveInitFields(input: Partial<PromptInitConfig>): PromptInitConfig {
  return {
    numPrompts: integer('numPrompts', input.numPrompts ?? 5, 1),
    dropout: rate('dropout', input.dropout ?? 0),
    init: oneOf('init', input.init ?? 'uniform', PROMPT_INITS),
    sampleSize: integer('sampleSize', input.sampleSize ?? 20_000, 1),
    seed: integer('seed', input.seed ?? 0, 0),
    promptBlock: integer('promptBlock', input.promptBlock ?? 0, 0),
  };
}

/** `promptBlock` checked against a model of `depth` blocks. */
export function promptBlockIndex(value: unknown, depth: number): number {
  const block = integer('promptBlock', value, 0);
  if (block >= depth) throw new ConfigError('promptBlock', block, `must be a block index in [0, ${depth - 1}] (the model has ${depth} blocks)`);
  return block;
}

/** Validates every field of a VPT config once and fills the defaults. */
export function resolveVptConfig(input: VptConfigInput = {}): VptConfig {
  knownOptions('vpt', input, VPT_FIELDS);
  const config = { ...resolveInitFields(input), deep: flag('deep', input.deep ?? false) };
  if (config.deep && config.promptBlock !== 0) throw new ConfigError('promptBlock', config.promptBlock, 'must be 0 for VPT-deep (a set enters every block)');
  return config;
}

/** Validates every field of a Gated Prompt Tuning config once and fills the defaults. */
export function resolveGatedPromptConfig(input: GatedPromptConfigInput = {}): GatedPromptConfig {
  knownOptions('gated-prompt', input, GATED_FIELDS);
  const config: GatedPromptConfig = {
    ...resolveInitFields(input),
    gates: flag('gates', input.gates ?? true),
    gateInit: numberInRange('gateInit', input.gateInit ?? 10),
    temperature: flag('temperature', input.temperature ?? true),
    hardGates: flag('hardGates', input.hardGates ?? false),
    hardGateTemperature: positiveNumber('hardGateTemperature', input.hardGateTemperature ?? 1),
  };
  if (config.hardGates && !config.gates) throw new ConfigError('hardGates', true, 'needs gates: true');
  return config;
}

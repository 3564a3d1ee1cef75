export type {
  GatedPromptConfig,
  GatedPromptConfigInput,
  PromptInit,
  PromptInitConfig,
  SelfPromptStrategy,
  VptConfig,
  VptConfigInput,
} from './config';
export { PROMPT_INITS, SELF_PROMPT_STRATEGIES, resolveGatedPromptConfig, resolveVptConfig } from './config';
export { PromptTuning, TEMPERATURE_RANGE, createGatedPrompt, createVpt, uniformPromptBound } from './prompt-tuning';
export { PROMPT_METHOD_DEFINITIONS } from './definitions';
export { GATED_PROMPT_OFFICIAL_NAMES, VPT_DEEP_OFFICIAL_NAMES, VPT_SHALLOW_OFFICIAL_NAMES } from './official-names';
export { selectionRatios } from './selection-ratio';
export type { SelfPromptOptions, SelfPromptResult } from './self-prompt';
export { selfPromptInit } from './self-prompt';
export type { KMeansOptions, KMeansResult } from './kmeans';
export { kMeans } from './kmeans';
export type { PoolMode } from './pool-windows';
export { batchPoolKernel, poolBatchTokens, poolWindowStarts, poolWindows } from './pool-windows';
export { TokenReservoir } from './token-reservoir';
export type { BlockNmiOptions, NmiNormalization, PerBlockNmiOptions, PromptNmi, PromptNmiOptions } from './prompt-nmi';
export { blockInputTokens, normalizedMutualInformation, promptNmiAtBlock, promptNmiPerBlock, promptPatchNmi } from './prompt-nmi';
export type { BackboneFamily, PromptHeadMethod, PromptHeadRecipe } from './head-recipe';
export { promptHeadRecipe } from './head-recipe';

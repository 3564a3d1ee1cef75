import type { DeclaredVariable, MethodDefinition, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';
import type { GatedPromptConfigInput, VptConfigInput } from './config';
import { GATED_PROMPT_OFFICIAL_NAMES, VPT_DEEP_OFFICIAL_NAMES, VPT_SHALLOW_OFFICIAL_NAMES } from './official-names';
import { createGatedPrompt, createVpt, gatedPromptShapes, vptShapes } from './prompt-tuning';

/** VPT's options with `deep` set by the method's name. A saved config (the method's `config`) holds the name's own value: only a contradiction is refused. */
function vptOptions(deep: boolean, options: Readonly<Record<string, unknown>>): VptConfigInput {
  if (Object.hasOwn(options, 'deep') && options['deep'] !== deep) throw new ConfigError('deep', options['deep'], 'is set by the method name (vpt-shallow or vpt-deep)');
  return { ...(options as VptConfigInput), deep };
}

function vpt(deep: boolean): Pick<MethodDefinition, 'create' | 'variableShapes'> {
  return {
    create: (model: VisionTransformer, options) => createVpt(model, vptOptions(deep, options)),
    variableShapes: (backbone: VitConfig, options): ReadonlyMap<string, DeclaredVariable> => vptShapes(backbone, vptOptions(deep, options)),
  };
}

/**
 * The prompt methods by name, for the benchmark app and saved runs. Self-Prompt Tuning is not a
 * method of its own: it is `init=kmeans | mean-pool | max-pool | random-token` on any of them.
 */
export const PROMPT_METHOD_DEFINITIONS: readonly MethodDefinition[] = [
  {
    name: 'vpt-shallow',
    description: 'VPT-shallow: prompt tokens after CLS entering the first block (Jia et al. 2022); init=kmeans|... for Self-Prompt Tuning',
    policy: 'linear',
    ...vpt(false),
    officialNames: VPT_SHALLOW_OFFICIAL_NAMES,
  },
  {
    name: 'vpt-deep',
    description: 'VPT-deep: a prompt set per block replacing the previous prompt outputs (Jia et al. 2022); init=kmeans|... for Self-Prompt Tuning',
    policy: 'linear',
    ...vpt(true),
    officialNames: VPT_DEEP_OFFICIAL_NAMES,
  },
  {
    name: 'gated-prompt',
    description: 'Gated Prompt Tuning: prompts with per-block gates and attention temperatures (Yoo et al., ICML 2023)',
    policy: 'linear',
    create: (model, options) => createGatedPrompt(model, options as GatedPromptConfigInput),
    variableShapes: (backbone, options) => gatedPromptShapes(backbone, options as GatedPromptConfigInput),
    officialNames: GATED_PROMPT_OFFICIAL_NAMES,
  },
];

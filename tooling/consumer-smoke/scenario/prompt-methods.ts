import { PROMPT_METHOD_DEFINITIONS } from '@visual-peft/prompt-methods';
import type { MethodDefinition } from '@visual-peft/vit-core';
import { runSmoke } from './shared.js';

function definition(name: string): MethodDefinition {
  const found = PROMPT_METHOD_DEFINITIONS.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`@visual-peft/prompt-methods has no method ${name}`);
  return found;
}

runSmoke('@visual-peft/prompt-methods', [
  { name: 'vpt', definition: definition('vpt-deep'), options: { numPrompts: 2 } },
  { name: 'gatedpt', definition: definition('gated-prompt'), options: { numPrompts: 2 } },
  // Self-Prompt Tuning: VPT whose prompts prepare() builds from the training data.
  { name: 'spt', definition: definition('vpt-shallow'), options: { numPrompts: 2, init: 'mean-pool' } },
]).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

import { ADAPTER_METHOD_DEFINITIONS } from '@visual-peft/adapter-methods';
import { CHANNEL_TUNING_DEFINITIONS } from '@visual-peft/channel-tuning';
import { PROMPT_METHOD_DEFINITIONS } from '@visual-peft/prompt-methods';
import { QUERY_TUNING_DEFINITIONS } from '@visual-peft/query-tuning';
import { queryTrainingForward } from '@visual-peft/query-tuning';
import type { VisualQueryTuning } from '@visual-peft/query-tuning';
import type { TrainingForward } from '@visual-peft/training';
import { modelForward } from '@visual-peft/training';
import type { MethodDefinition, TrainablePolicy, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { UsageError } from './errors';
import type { OptionValue } from './set-options';

/** A name on the command line: a trainable-set policy alone, or a method package's definition. */
export interface MethodEntry {
  readonly name: string;
  readonly description: string;
  /** Backbone weights that train alongside the method's own variables. */
  readonly policy: TrainablePolicy;
  /** The method to build and attach, or null for a pure policy. */
  readonly definition: MethodDefinition | null;
}

const POLICIES: readonly MethodEntry[] = [
  { name: 'linear', policy: 'linear', description: 'linear probe: the head only', definition: null },
  { name: 'full', policy: 'full', description: 'full fine-tuning: every weight', definition: null },
  { name: 'bias', policy: 'bias', description: 'BitFit: every bias and the head', definition: null },
];

/** Method packages' definitions; each package adds its list here as it lands. */
const DEFINITIONS: readonly MethodDefinition[] = [...ADAPTER_METHOD_DEFINITIONS, ...CHANNEL_TUNING_DEFINITIONS, ...PROMPT_METHOD_DEFINITIONS, ...QUERY_TUNING_DEFINITIONS];

/** Every method by name. */
export const METHODS: ReadonlyMap<string, MethodEntry> = new Map(
  [...POLICIES, ...DEFINITIONS.map((definition) => ({ ...definition, definition }))].map((entry) => [entry.name, entry]),
);

export function findMethod(name: string): MethodEntry {
  const entry = METHODS.get(name);
  if (entry === undefined) throw new UsageError(`--method must be one of ${[...METHODS.keys()].join(', ')}, got ${JSON.stringify(name)}`);
  return entry;
}

/** Builds and attaches a method (or checks that a pure policy got no options); returns what was attached. */
export function buildMethod(entry: MethodEntry, model: VisionTransformer, options: Record<string, OptionValue>): TuningMethod[] {
  if (entry.definition === null) {
    const keys = Object.keys(options);
    if (keys.length > 0) throw new UsageError(`--set ${keys[0]}: method ${entry.name} takes no options`);
    return [];
  }
  const method = entry.definition.create(model, options);
  model.attach(method);
  return [method];
}

/** How a training step runs the attached methods: VQT's query path alone on the tape, else the model's forward. */
export function trainingForwardFor(model: VisionTransformer, methods: readonly TuningMethod[]): TrainingForward {
  const vqt = methods.find((method): method is VisualQueryTuning => method.name === 'vqt');
  return vqt === undefined ? modelForward(model) : (queryTrainingForward(vqt) as unknown as TrainingForward);
}

import { ADAPTER_METHOD_DEFINITIONS } from '@visual-peft/adapter-methods';
import { CHANNEL_TUNING_DEFINITIONS } from '@visual-peft/channel-tuning';
import { PROMPT_METHOD_DEFINITIONS } from '@visual-peft/prompt-methods';
import { QUERY_TUNING_DEFINITIONS } from '@visual-peft/query-tuning';
import type { DeclaredVariable, MethodDefinition, TrainablePolicy, TuningMethod, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, declaredVariables } from '@visual-peft/vit-core';
import { UsageError } from './errors';
import type { OptionValue } from './set-options';
import type { Recipe } from './suite/recipes';
import { registerRecipe } from './suite/recipes';
import { parseVariant } from './suite/variants';

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

const registry = new Map<string, MethodEntry>(
  [...POLICIES, ...DEFINITIONS.map((definition) => ({ ...definition, definition }))].map((entry) => [entry.name, entry]),
);

/** Every method by name: the policies, each package's definitions, then those added by `registerMethod`. */
export const METHODS: ReadonlyMap<string, MethodEntry> = registry;

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * Adds a method that no package of this repository defines: from then on `train`, `params`,
 * `speed` and `memory` take it by name like any other, and with a recipe (how to train it: optimiser,
 * epochs, grid, ...) a suite runs it too (`run --methods <name>`). The app never looks inside it:
 * its hooks, its `prepare`, its `trainingForward` and its `diagnostics` reach training and the
 * result records through the contract alone.
 */
export function registerMethod(definition: MethodDefinition, recipe?: Omit<Recipe, 'method'>): void {
  if (typeof definition.name !== 'string' || !KEBAB.test(definition.name)) throw new ConfigError('method name', definition.name, 'must be kebab-case');
  if (registry.has(definition.name)) throw new ConfigError('method name', definition.name, 'is taken: every method is registered once, under its own name');
  if (recipe !== undefined) registerRecipe(definition.name, { ...recipe, method: definition.name });
  registry.set(definition.name, { name: definition.name, description: definition.description, policy: definition.policy, definition });
}

/** Every method definition by which a tuned-weights file may be rebuilt: the packages' and those added by `registerMethod`. */
export function methodDefinitions(): MethodDefinition[] {
  return [...METHODS.values()].flatMap((entry) => (entry.definition === null ? [] : [entry.definition]));
}

/**
 * Whether training `entry` back-propagates through the backbone's blocks, so that `--recompute`
 * (recomputing each block in the backward pass) changes anything: not for a linear probe (the head
 * alone trains, its backbone off the tape) nor for a method whose definition says so (VQT).
 */
export function trainsThroughBlocks(entry: MethodEntry): boolean {
  return entry.definition === null ? entry.policy !== 'linear' : entry.definition.trainsThroughBlocks !== false;
}

/** `--recompute` with methods of which none back-propagates through the blocks: one line naming the flag and the rule. */
export function checkRecompute(recompute: boolean, entries: readonly MethodEntry[]): void {
  if (!recompute || entries.some(trainsThroughBlocks)) return;
  const names = entries.map((entry) => entry.name).join(', ');
  throw new UsageError(
    `--recompute recomputes the backbone's blocks in the backward pass, and ${names} ${entries.length > 1 ? 'do' : 'does'} not back-propagate through them ` +
      '(a linear probe trains the head alone; VQT keeps the backbone off the gradient tape): drop --recompute',
  );
}

export function findMethod(name: string): MethodEntry {
  const entry = METHODS.get(name);
  if (entry === undefined) throw new UsageError(`--method must be one of ${[...METHODS.keys()].join(', ')}, got ${JSON.stringify(name)}`);
  return entry;
}

/** A `--method` name: one method, or `second+first`, a two-stage method (first tuned, then frozen under second). */
export interface MethodStages {
  readonly method: MethodEntry;
  readonly first: MethodEntry | null;
  /** Options each stage's name fixes, as a variant (`sct[selection=random]`); empty for a plain name. */
  readonly fixed: { readonly method: Record<string, OptionValue>; readonly first: Record<string, OptionValue> };
}

/**
 * Reads `--method`: a registered name or a variant of one (`sct[selection=random]`), or two joined
 * by `+` (`vqt+vpt-deep`: `vpt-deep` tuned first, then frozen while `vqt` trains over it, as VQT's
 * Sec. 4.3 runs it).
 */
export function findStages(name: string): MethodStages {
  // A `+` inside a variant's brackets is part of a value, not a stage separator.
  const parts = name.split(/\+(?![^[]*\])/);
  if (parts.length > 2) throw new UsageError(`--method takes one method or two joined by + (second+first), got ${JSON.stringify(name)}`);
  const stage = (part: string) => {
    const variant = part.includes('[') ? parseVariant(part, [...METHODS.keys()]) : { base: part, options: {} };
    return { entry: findMethod(variant.base), options: { ...variant.options } };
  };
  const method = stage(parts[0]!);
  const first = parts.length === 2 ? stage(parts[1]!) : null;
  return { method: method.entry, first: first?.entry ?? null, fixed: { method: method.options, first: first?.options ?? {} } };
}

/** Refuses options for a pure policy, which takes none. */
function checkPolicyOptions(entry: MethodEntry, options: Record<string, OptionValue>): void {
  const keys = Object.keys(options);
  if (entry.definition === null && keys.length > 0) throw new UsageError(`--set ${keys[0]}: method ${entry.name} takes no options`);
}

/** Builds and attaches a method (or checks that a pure policy got no options); returns what was attached. */
export function buildMethod(entry: MethodEntry, model: VisionTransformer, options: Record<string, OptionValue>): TuningMethod[] {
  checkPolicyOptions(entry, options);
  if (entry.definition === null) return [];
  const method = entry.definition.create(model, options);
  model.attach(method);
  return [method];
}

/**
 * The variables `buildMethod` would build on a backbone of `config`, from shapes alone (the
 * definition's `variableShapes`, options checked as `create` checks them, sizes against the 2^30
 * limit): none for a pure policy.
 */
export function declareMethod(entry: MethodEntry, config: VitConfig, options: Record<string, OptionValue>): ReadonlyMap<string, DeclaredVariable>[] {
  checkPolicyOptions(entry, options);
  return entry.definition === null ? [] : [declaredVariables(entry.definition, config, options)];
}

/** Detaches and frees what `buildMethod` attached. */
export function disposeMethods(model: VisionTransformer, methods: readonly TuningMethod[]): void {
  for (const method of methods) {
    model.detach(method);
    method.dispose();
  }
}

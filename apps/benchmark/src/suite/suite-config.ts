import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DatasetName } from '@visual-peft/datasets';
import { FGVC_DATASETS, VTAB_TASKS, isFgvcDataset } from '@visual-peft/datasets';
import type { VitConfig } from '@visual-peft/vit-core';
import { ConfigError, FormatError } from '@visual-peft/vit-core';
import { resolveBackbone } from '../backbone';
import { DEMO_LEARNING_RATES, DEMO_SEEDS, DEMO_SUITE_TASKS, demoBackbones, demoRecipe } from '../demo/demo-suite';
import { UsageError } from '../errors';
import type { BackboneFamily, CompressSettings, Grid, Recipe } from './recipes';
import { BACKBONE_FAMILIES, PAPER_SEEDS, RECIPE_NAMES, SEGMENTATION_UNSUPPORTED, VQT_COMPRESS, recipeFor, segmentationRecipe } from './recipes';
import type { SuiteName, TaskGroup } from './result-record';
import { SUITE_NAMES } from './result-record';

/** One task of a suite: a dataset (by the `data` command's name) and its group in the papers' tables. */
export interface SuiteTask {
  readonly task: string;
  readonly dataset: DatasetName;
  readonly group: TaskGroup;
}

/** A backbone as the results depend on it: its name, its full config and the checkpoint's file name. */
export interface SuiteBackbone {
  readonly name: string;
  readonly config: VitConfig;
  /** The checkpoint's file name (not its path: shards on other machines keep it elsewhere), or null for random weights. */
  readonly weights: string | null;
}

export interface SuiteMethod {
  /** The suite's name of the method (a key of RECIPES). */
  readonly name: string;
  /** Its recipe with the suite file's overrides applied. */
  readonly recipe: Recipe;
}

/** Everything that decides a suite's results; stored in `<out>/suite.json` and hashed. */
export interface ResolvedSuite {
  readonly suite: SuiteName;
  /** The backbones' pretraining: it decides each method's classifier and its family-specific recipe (`recipeFor`). */
  readonly family: BackboneFamily;
  readonly tasks: readonly SuiteTask[];
  readonly methods: readonly SuiteMethod[];
  readonly seeds: readonly number[];
  readonly backbones: readonly SuiteBackbone[];
}

/** A resolved suite with where its checkpoints are on this machine (not part of the hash). */
export interface SuitePlan {
  readonly resolved: ResolvedSuite;
  readonly hash: string;
  /** Backbone name -> checkpoint path, or null. */
  readonly weightPaths: ReadonlyMap<string, string | null>;
}

/** The built-in suites' tasks. */
export function builtInTasks(suite: SuiteName): SuiteTask[] {
  switch (suite) {
    case 'fgvc':
      return Object.keys(FGVC_DATASETS).map((name) => ({ task: name, dataset: name as DatasetName, group: 'fgvc' }));
    case 'vtab-1k':
      return Object.entries(VTAB_TASKS).map(([task, { group }]) => ({ task: `vtab-${task}`, dataset: `vtab-${task}` as DatasetName, group }));
    case 'ade20k':
      return [{ task: 'ade20k', dataset: 'ade20k', group: 'ade20k' }];
    case 'demo':
      return [...DEMO_SUITE_TASKS];
  }
}

/**
 * Where a task's files are under `--data`: FGVC datasets in their own folder, VTAB-1k task folders
 * side by side, ADE20K in the release's ADEChallengeData2016 folder.
 */
export function taskRoot(data: string, task: SuiteTask): string {
  if (task.dataset === 'ade20k') return resolve(data, 'ADEChallengeData2016');
  return isFgvcDataset(task.dataset) ? resolve(data, task.dataset) : resolve(data);
}

/** What the command line says about a suite. */
export interface SuiteRequest {
  /** A built-in suite's name or a .json / .yaml / .yml file. */
  readonly suite: string;
  readonly methods?: readonly string[];
  readonly seeds?: readonly number[];
  /** A preset or a config .json, with an optional checkpoint: replaces the suite file's backbones. */
  readonly backbone?: { readonly config: string; readonly weights: string | null };
  /** The backbones' family (`--family`): replaces the suite file's. Default supervised. */
  readonly family?: string;
}

type Json = unknown;

/** Field checks of a suite file: each error names the file, the field, the value and the rule. */
class FieldReader {
  constructor(private readonly file: string) {}

  fail(field: string, value: Json, rule: string): never {
    throw new ConfigError(`${this.file}: ${field}`, value, rule);
  }

  record(field: string, value: Json, keys: readonly string[]): Record<string, Json> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) this.fail(field, value, 'must be an object');
    for (const key of Object.keys(value)) {
      if (!keys.includes(key)) this.fail(field === '' ? key : `${field}.${key}`, (value as Record<string, Json>)[key], `is not a known field (fields: ${keys.join(', ')})`);
    }
    return value as Record<string, Json>;
  }

  list(field: string, value: Json): Json[] {
    if (!Array.isArray(value) || value.length === 0) this.fail(field, value, 'must be a non-empty list');
    return value;
  }

  number(field: string, value: Json, rule: (v: number) => boolean, description: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || !rule(value)) this.fail(field, value, `must be ${description}`);
    return value;
  }

  integer(field: string, value: Json, minimum: number): number {
    return this.number(field, value, (v) => Number.isInteger(v) && v >= minimum, `an integer >= ${minimum}`);
  }

  string(field: string, value: Json, choices?: readonly string[]): string {
    if (typeof value !== 'string' || value === '') this.fail(field, value, 'must be a non-empty string');
    if (choices !== undefined && !choices.includes(value)) this.fail(field, value, `must be one of ${choices.join(', ')}`);
    return value;
  }

  unique<T>(field: string, values: T[]): T[] {
    const seen = new Set<T>();
    for (const [index, value] of values.entries()) {
      if (seen.has(value)) this.fail(`${field}[${index}]`, value, 'must not repeat an earlier entry');
      seen.add(value);
    }
    return values;
  }

  grid(field: string, value: Json): Grid {
    const raw = this.record(field, value, ['learningRates', 'weightDecays']);
    const rates = raw.learningRates === undefined ? undefined : this.list(`${field}.learningRates`, raw.learningRates);
    const decays = raw.weightDecays === undefined ? undefined : this.list(`${field}.weightDecays`, raw.weightDecays);
    if (rates === undefined || decays === undefined) this.fail(field, value, 'must give both learningRates and weightDecays');
    return {
      learningRates: this.unique(`${field}.learningRates`, rates.map((v, i) => this.number(`${field}.learningRates[${i}]`, v, (x) => x > 0, 'a positive number'))),
      weightDecays: this.unique(`${field}.weightDecays`, decays.map((v, i) => this.number(`${field}.weightDecays[${i}]`, v, (x) => x >= 0, 'a non-negative number'))),
    };
  }
}

/** What a suite file may set for every method at once, or per method under `recipes`. */
const EPOCH_OVERRIDES = ['epochs', 'warmupEpochs'] as const;
const SEGMENTATION_OVERRIDES = ['iterations', 'cropSize', 'headChannels'] as const;
const RECIPE_OVERRIDES = [...EPOCH_OVERRIDES, 'batchSize', 'grid', 'compress', ...SEGMENTATION_OVERRIDES] as const;
const SUITE_FILE_KEYS = ['suite', 'family', 'tasks', 'methods', 'seeds', 'backbones', 'options', 'recipes', ...RECIPE_OVERRIDES] as const;

interface RecipeOverride {
  epochs?: number;
  batchSize?: number;
  warmupEpochs?: number;
  grid?: Grid;
  iterations?: number;
  cropSize?: number;
  headChannels?: number;
  compress?: CompressSettings;
}

/** A suite's overrides: epochs for classification suites, iterations, crop and head width for ade20k (which fixes one lr and wd: no search). */
function readOverride(reader: FieldReader, field: string, raw: Record<string, Json>, suite: SuiteName): RecipeOverride {
  const segmentation = suite === 'ade20k';
  for (const key of segmentation ? EPOCH_OVERRIDES : SEGMENTATION_OVERRIDES) {
    if (raw[key] !== undefined) reader.fail(`${field}${key}`, raw[key], segmentation ? 'does not apply to ade20k, which trains by iterations (set iterations)' : 'applies to the ade20k suite only');
  }
  const override: RecipeOverride = {};
  for (const key of ['epochs', 'batchSize', 'iterations', 'cropSize', 'headChannels'] as const) {
    if (raw[key] !== undefined) override[key] = reader.integer(`${field}${key}`, raw[key], 1);
  }
  if (raw.warmupEpochs !== undefined) override.warmupEpochs = reader.integer(`${field}warmupEpochs`, raw.warmupEpochs, 0);
  if (raw.grid !== undefined) override.grid = reader.grid(`${field}grid`, raw.grid);
  if (raw.compress !== undefined) {
    if (segmentation) reader.fail(`${field}compress`, raw.compress, 'does not apply to ade20k (VQT cannot run there)');
    const compress = reader.record(`${field}compress`, raw.compress, ['keepFraction', 'penalty']);
    override.compress = {
      keepFraction: compress.keepFraction === undefined ? VQT_COMPRESS.keepFraction : reader.number(`${field}compress.keepFraction`, compress.keepFraction, (v) => v > 0 && v <= 1, 'in (0, 1]'),
      penalty: compress.penalty === undefined ? VQT_COMPRESS.penalty : reader.number(`${field}compress.penalty`, compress.penalty, (v) => v >= 0, 'a non-negative number'),
    };
  }
  if (segmentation && override.grid !== undefined && override.grid.learningRates.length * override.grid.weightDecays.length > 1) {
    reader.fail(`${field}grid`, raw.grid, 'must be one learning rate and one weight decay on ade20k (no held-out split to search on; the papers report validation)');
  }
  return override;
}

/** A suite's overrides of length, batch and grid reach both stages of a two-stage method; `compress` only the method that compresses. */
function applyOverride(recipe: Recipe, override: RecipeOverride): Recipe {
  const epochs = override.epochs ?? recipe.epochs;
  const warmupEpochs = override.warmupEpochs ?? recipe.schedule.warmupEpochs ?? 0;
  const { segmentation, firstStage } = recipe;
  const { compress, ...stageOverride } = override;
  return {
    ...recipe,
    ...(firstStage === undefined ? {} : { firstStage: applyOverride(firstStage, stageOverride) }),
    ...(compress === undefined ? {} : { compress }),
    epochs,
    batchSize: override.batchSize ?? recipe.batchSize,
    grid: override.grid ?? recipe.grid,
    // A shortened run keeps at most its own length of warm-up.
    schedule: { ...recipe.schedule, warmupEpochs: Math.min(warmupEpochs, epochs) },
    ...(segmentation === undefined
      ? {}
      : {
          segmentation: {
            ...segmentation,
            iterations: override.iterations ?? segmentation.iterations,
            cropSize: override.cropSize ?? segmentation.cropSize,
            headChannels: override.headChannels ?? segmentation.headChannels,
          },
        }),
  };
}

async function readSuiteFile(path: string): Promise<Record<string, Json>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`--suite ${path}: no such file (a suite is one of ${SUITE_NAMES.join(', ')} or a .json / .yaml file)`);
  }
  let parsed: Json;
  try {
    parsed = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new FormatError(path, `not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`);
  }
  return new FieldReader(path).record('', parsed, SUITE_FILE_KEYS);
}

/** A backbone's name in job ids: the checkpoint's file stem, else the preset or config file stem. */
function backboneName(config: string, weights: string | null): string {
  const stem = (path: string) => basename(path).replace(/\.[^.]+$/, '');
  return (weights === null ? stem(config) : stem(weights)).replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Canonical JSON (sorted keys) of a value: equal configurations hash equally whatever the field order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function suiteHash(resolved: ResolvedSuite): string {
  return createHash('sha256').update(canonicalJson(resolved)).digest('hex').slice(0, 16);
}

/**
 * Resolves what `run` will do: a built-in suite, or a suite file (JSON or YAML) on top of one,
 * with the command line's methods, seeds and backbone last. Every field is checked here, before
 * anything runs. The demo suite defaults to every method, its own seed and both demo backbones,
 * with its shortened recipes (src/demo/demo-suite.ts) under any suite-file overrides.
 */
export async function resolveSuite(request: SuiteRequest): Promise<SuitePlan> {
  const isFile = /\.(json|ya?ml)$/.test(request.suite);
  if (!isFile && !(SUITE_NAMES as readonly string[]).includes(request.suite)) {
    throw new UsageError(`--suite must be one of ${SUITE_NAMES.join(', ')} or a .json / .yaml / .yml file, got ${JSON.stringify(request.suite)}`);
  }
  const file = isFile ? await readSuiteFile(request.suite) : {};
  const reader = new FieldReader(request.suite);
  const suite = (isFile ? reader.string('suite', file.suite, SUITE_NAMES) : request.suite) as SuiteName;
  const available = builtInTasks(suite);
  const tasks =
    file.tasks === undefined
      ? available
      : reader.unique('tasks', reader.list('tasks', file.tasks).map((value, index) => reader.string(`tasks[${index}]`, value, available.map((task) => task.task)))).map(
          (name) => available.find((task) => task.task === name)!,
        );

  // The file's own method list, when it has one: its per-method settings must name one of them.
  const fileMethods =
    file.methods === undefined ? undefined : reader.unique('methods', reader.list('methods', file.methods).map((value, index) => reader.string(`methods[${index}]`, value, RECIPE_NAMES)));
  let methodNames: string[];
  if (request.methods !== undefined) {
    methodNames = [...request.methods];
    for (const name of methodNames) {
      if (!RECIPE_NAMES.includes(name)) throw new UsageError(`--methods: each must be one of ${RECIPE_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
    }
    if (new Set(methodNames).size !== methodNames.length) throw new UsageError(`--methods must not repeat a method, got ${JSON.stringify(methodNames.join(','))}`);
  } else if (fileMethods !== undefined) {
    methodNames = fileMethods;
  } else if (suite === 'demo') {
    // The demo's own table of methods (a method registered at run time is not in it).
    methodNames = Object.keys(DEMO_LEARNING_RATES);
  } else {
    throw new UsageError('run: --methods is required (or a suite file with methods)');
  }

  const seeds =
    request.seeds ??
    (file.seeds === undefined ? (suite === 'demo' ? DEMO_SEEDS : PAPER_SEEDS) : reader.unique('seeds', reader.list('seeds', file.seeds).map((value, index) => reader.integer(`seeds[${index}]`, value, 0))));

  const shared = readOverride(reader, '', file, suite);
  const perMethod = file.recipes === undefined ? {} : reader.record('recipes', file.recipes, RECIPE_NAMES);
  const options = file.options === undefined ? {} : reader.record('options', file.options, RECIPE_NAMES);
  const ownOverride = (name: string) =>
    perMethod[name] === undefined ? {} : readOverride(reader, `recipes.${name}.`, reader.record(`recipes.${name}`, perMethod[name], RECIPE_OVERRIDES), suite);
  const ownOptions = (name: string) => (options[name] === undefined ? {} : reader.record(`options.${name}`, options[name], Object.keys(options[name] ?? {})));
  for (const [field, settings] of [['recipes', perMethod], ['options', options]] as const) {
    for (const name of Object.keys(settings)) {
      if (fileMethods !== undefined && !fileMethods.includes(name)) reader.fail(`${field}.${name}`, settings[name], `must name one of the file's methods (${fileMethods.join(', ')})`);
    }
  }
  // Settings of methods the command line leaves out are checked too, and then unused.
  for (const name of Object.keys(perMethod)) ownOverride(name);
  for (const name of Object.keys(options)) ownOptions(name);
  if (suite === 'ade20k') {
    for (const name of methodNames) {
      if (SEGMENTATION_UNSUPPORTED[name] !== undefined) throw new UsageError(`method ${name} cannot run on ade20k: ${SEGMENTATION_UNSUPPORTED[name]}`);
    }
  }
  if (request.family !== undefined && !(BACKBONE_FAMILIES as readonly string[]).includes(request.family)) {
    throw new UsageError(`--family must be one of ${BACKBONE_FAMILIES.join(', ')}, got ${JSON.stringify(request.family)}`);
  }
  const family = (request.family ?? (file.family === undefined ? 'supervised' : reader.string('family', file.family, BACKBONE_FAMILIES))) as BackboneFamily;
  if (suite === 'demo' && family !== 'supervised') throw new UsageError(`the demo suite's backbones are its own supervised pretraining: family ${family} does not apply`);
  const methods = methodNames.map((name): SuiteMethod => {
    // ADE20K's SETR-PUP heads replace the classifier: only the recipe's options carry over.
    const base = suite === 'demo' ? demoRecipe(name) : suite === 'ade20k' ? segmentationRecipe(name) : recipeFor(name, family);
    const recipe = applyOverride(applyOverride(base, shared), ownOverride(name));
    return { name, recipe: { ...recipe, options: { ...base.options, ...ownOptions(name) } } };
  });

  // The file's backbones are checked even when the command line replaces them.
  const base = dirname(request.suite);
  const inFile = (path: string) => (path.endsWith('.json') || path.includes('/') ? resolve(base, path) : path);
  const fileSpecs =
    file.backbones === undefined
      ? undefined
      : reader.list('backbones', file.backbones).map((value, index) => {
          const raw = reader.record(`backbones[${index}]`, value, ['name', 'config', 'weights']);
          return {
            config: inFile(reader.string(`backbones[${index}].config`, raw.config)),
            weights: raw.weights === undefined ? null : resolve(base, reader.string(`backbones[${index}].weights`, raw.weights)),
            ...(raw.name === undefined ? {} : { name: reader.string(`backbones[${index}].name`, raw.name) }),
          };
        });
  const specs: { config: string; weights: string | null; name?: string }[] | undefined =
    request.backbone !== undefined ? [request.backbone] : (fileSpecs ?? (suite === 'demo' ? demoBackbones() : undefined));
  if (specs === undefined) throw new UsageError('run: --backbone is required (or a suite file with backbones)');
  const backbones: SuiteBackbone[] = [];
  const weightPaths = new Map<string, string | null>();
  for (const spec of specs) {
    const name = spec.name ?? backboneName(spec.config, spec.weights);
    if (weightPaths.has(name)) throw new UsageError(`backbones: two backbones are named ${JSON.stringify(name)}; give each a distinct name`);
    backbones.push({ name, config: await resolveBackbone(spec.config), weights: spec.weights === null ? null : basename(spec.weights) });
    weightPaths.set(name, spec.weights);
  }
  const resolved: ResolvedSuite = { suite, family, tasks, methods, seeds, backbones };
  return { resolved, hash: suiteHash(resolved), weightPaths };
}

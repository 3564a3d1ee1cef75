import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import type { DatasetName } from '@visual-peft/datasets';
import { FGVC_DATASETS, VTAB_TASKS, isFgvcDataset } from '@visual-peft/datasets';
import type { VitConfig } from '@visual-peft/vit-core';
import { ConfigError, FileSystemError, FormatError } from '@visual-peft/vit-core';
import { resolveBackbone } from '../backbone';
import { locateSuiteFile } from '../demo-assets';
import { DEMO_LEARNING_RATES, DEMO_SEEDS, DEMO_SUITE_TASKS, demoBackbones, demoRecipe } from '../demo/demo-suite';
import { UsageError } from '../errors';
import { parseStrictJson, parseStrictYaml } from '../number-text';
import type { Json } from './field-reader';
import { FieldReader } from './field-reader';
import type { PaperTable } from './paper-table';
import { readPaperTable } from './paper-table';
import type { BackboneFamily, CompressSettings, Grid, Recipe } from './recipes';
import { BACKBONE_FAMILIES, PAPER_SEEDS, RECIPE_NAMES, SEGMENTATION_UNSUPPORTED, VQT_COMPRESS, recipeFor, segmentationRecipe } from './recipes';
import type { SuiteName, TaskGroup } from './result-record';
import { SUITE_NAMES } from './result-record';
import type { DataFingerprint } from './input-identity';
import type { MethodVariant } from './variants';
import { VariantOptionError, parseVariant } from './variants';

/** One task of a suite: a dataset (by the `data` command's name) and its group in the papers' tables. */
export interface SuiteTask {
  readonly task: string;
  readonly dataset: DatasetName;
  readonly group: TaskGroup;
  /** The files its splits read (`run` adds it before opening a store; absent in a suite as resolved from its file). */
  readonly data?: DataFingerprint;
}

/** A backbone as the results depend on it: its name, its full config and the checkpoint's file name. */
export interface SuiteBackbone {
  readonly name: string;
  readonly config: VitConfig;
  /** The checkpoint's file name (not its path: shards on other machines keep it elsewhere), or null for random weights. */
  readonly weights: string | null;
  /** SHA-256 of the checkpoint's bytes, null for random weights (`run` adds it before opening a store). */
  readonly sha256?: string | null;
}

export interface SuiteMethod {
  /** The suite's name of the method: a key of RECIPES, or a variant of one (`sct[selection=random]`, src/suite/variants.ts). */
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
  /** The suite file's `paper:` numbers, or null (not hashed: they decide no result). */
  readonly paper: PaperTable | null;
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

/** What a suite file may set for every method at once, or per method under `recipes`. */
const EPOCH_OVERRIDES = ['epochs', 'warmupEpochs'] as const;
const SEGMENTATION_OVERRIDES = ['iterations', 'cropSize', 'headChannels'] as const;
const RECIPE_OVERRIDES = [...EPOCH_OVERRIDES, 'batchSize', 'grid', 'compress', ...SEGMENTATION_OVERRIDES] as const;
const SUITE_FILE_KEYS = ['suite', 'family', 'tasks', 'methods', 'seeds', 'backbones', 'options', 'recipes', 'paper', ...RECIPE_OVERRIDES] as const;

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
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw FileSystemError.from(error, path, 'read') ?? error;
    throw new UsageError(`--suite ${path}: no such file, here or among the app's suite files (a suite is one of ${SUITE_NAMES.join(', ')} or a .json / .yaml file)`);
  }
  let parsed: Json;
  try {
    parsed = extname(path) === '.json' ? parseStrictJson(text) : parseStrictYaml(text);
  } catch (error) {
    throw new FormatError(path, `not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`);
  }
  return new FieldReader(path).record('', parsed, SUITE_FILE_KEYS);
}

/**
 * A name that becomes a path segment (a backbone's, in job ids, result files and work folders): a
 * letter or digit, then letters, digits and . _ - only, and no `..`. Task names come from the
 * built-in lists and method names from their grammar (src/suite/variants.ts), both of which keep
 * within such characters.
 */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const SAFE_NAME_RULE = 'must be a letter or digit followed by letters, digits and . _ - (no .., no / or other characters: it becomes a folder and file name)';

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes('..');
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

function safeFileName(reader: FieldReader, field: string, value: Json): string {
  const name = reader.string(field, value);
  if (!isSafeName(name)) reader.fail(field, name, SAFE_NAME_RULE);
  return name;
}

function fileTasks(reader: FieldReader, file: Record<string, Json>, suite: SuiteName): SuiteTask[] {
  const available = builtInTasks(suite);
  if (file.tasks === undefined) return available;
  return reader
    .unique('tasks', reader.list('tasks', file.tasks).map((value, index) => reader.string(`tasks[${index}]`, value, available.map((task) => task.task))))
    .map((name) => available.find((task) => task.task === name)!);
}

/** A method name of a suite file: a recipe's, or a variant of one (`sct[selection=random]`), in canonical form. */
function readVariant(reader: FieldReader, field: string, value: Json): MethodVariant {
  const text = reader.string(field, value);
  try {
    return parseVariant(text, RECIPE_NAMES);
  } catch (error) {
    if (error instanceof ConfigError && !(error instanceof VariantOptionError)) reader.fail(field, text, error.rule);
    throw error;
  }
}

function readFileMethods(reader: FieldReader, file: Record<string, Json>): string[] | undefined {
  return file.methods === undefined ? undefined : reader.unique('methods', reader.list('methods', file.methods).map((value, index) => readVariant(reader, `methods[${index}]`, value).name));
}

/** A suite file's `paper:` block, checked against the file's tasks and methods, or null when it has none (`report --suite`). */
export async function readSuitePaper(given: string): Promise<{ suite: SuiteName; tasks: SuiteTask[]; paper: PaperTable | null }> {
  const path = locateSuiteFile(given);
  const file = await readSuiteFile(path);
  const reader = new FieldReader(path);
  const suite = reader.string('suite', file.suite, SUITE_NAMES) as SuiteName;
  const tasks = fileTasks(reader, file, suite);
  const paper = file.paper === undefined ? null : readPaperTable(reader, file.paper, tasks, readFileMethods(reader, file) ?? RECIPE_NAMES);
  return { suite, tasks, paper };
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
  const path = isFile ? locateSuiteFile(request.suite) : request.suite;
  const file = isFile ? await readSuiteFile(path) : {};
  const reader = new FieldReader(path);
  const suite = (isFile ? reader.string('suite', file.suite, SUITE_NAMES) : request.suite) as SuiteName;
  const tasks = fileTasks(reader, file, suite);

  // The file's own method list, when it has one: its per-method settings must name one of them (or a variant's base).
  const uniqueVariants = (field: string, variants: MethodVariant[]) => {
    reader.unique(field, variants.map((variant) => variant.name));
    return variants;
  };
  const fileMethods = file.methods === undefined ? undefined : uniqueVariants('methods', reader.list('methods', file.methods).map((value, index) => readVariant(reader, `methods[${index}]`, value)));
  const paper = file.paper === undefined ? null : readPaperTable(reader, file.paper, tasks, fileMethods?.map((method) => method.name) ?? RECIPE_NAMES);
  let variants: MethodVariant[];
  if (request.methods !== undefined) {
    variants = request.methods.map((name) => {
      try {
        return parseVariant(name, RECIPE_NAMES);
      } catch (error) {
        if (error instanceof ConfigError && !(error instanceof VariantOptionError)) throw new UsageError(`--methods: each ${error.rule}, got ${JSON.stringify(name)}`);
        throw error;
      }
    });
    if (new Set(variants.map((variant) => variant.name)).size !== variants.length) throw new UsageError(`--methods must not repeat a method, got ${JSON.stringify(request.methods.join(','))}`);
  } else if (fileMethods !== undefined) {
    variants = fileMethods;
  } else if (suite === 'demo') {
    // The demo's own table of methods (a method registered at run time is not in it).
    variants = Object.keys(DEMO_LEARNING_RATES).map((name) => ({ name, base: name, options: {} }));
  } else {
    throw new UsageError('run: --methods is required (or a suite file with methods)');
  }

  const seeds =
    request.seeds ??
    (file.seeds === undefined ? (suite === 'demo' ? DEMO_SEEDS : PAPER_SEEDS) : reader.unique('seeds', reader.list('seeds', file.seeds).map((value, index) => reader.integer(`seeds[${index}]`, value, 0))));

  // Per-method settings are keyed by a method's (canonical) name: a variant's own, or its base's, which its variants inherit.
  const settings = (field: 'recipes' | 'options'): Map<string, { key: string; value: Record<string, Json> }> => {
    const byName = new Map<string, { key: string; value: Record<string, Json> }>();
    if (file[field] === undefined) return byName;
    const raw = reader.record(field, file[field], Object.keys(file[field] ?? {}));
    for (const [key, value] of Object.entries(raw)) {
      const { name } = readVariant(reader, `${field}.${key}`, key);
      if (byName.has(name)) reader.fail(`${field}.${key}`, value, `names the same method as ${field}.${byName.get(name)!.key}`);
      if (fileMethods !== undefined && !fileMethods.some((method) => method.name === name || method.base === name)) {
        reader.fail(`${field}.${key}`, value, `must name one of the file's methods (${fileMethods.map((method) => method.name).join(', ')}) or a variant's base`);
      }
      const record = field === 'recipes' ? reader.record(`${field}.${key}`, value, RECIPE_OVERRIDES) : reader.record(`${field}.${key}`, value, Object.keys(value ?? {}));
      byName.set(name, { key, value: record });
    }
    return byName;
  };
  const shared = readOverride(reader, '', file, suite);
  const perMethod = settings('recipes');
  const options = settings('options');
  const overrideOf = (name: string) => {
    const own = perMethod.get(name);
    return own === undefined ? {} : readOverride(reader, `recipes.${own.key}.`, own.value, suite);
  };
  const optionsOf = (name: string) => options.get(name)?.value ?? {};
  // Settings of methods the command line leaves out are checked too, and then unused.
  for (const name of perMethod.keys()) overrideOf(name);
  if (suite === 'ade20k') {
    for (const { name, base } of variants) {
      if (SEGMENTATION_UNSUPPORTED[base] !== undefined) throw new UsageError(`method ${name} cannot run on ade20k: ${SEGMENTATION_UNSUPPORTED[base]}`);
    }
  }
  if (request.family !== undefined && !(BACKBONE_FAMILIES as readonly string[]).includes(request.family)) {
    throw new UsageError(`--family must be one of ${BACKBONE_FAMILIES.join(', ')}, got ${JSON.stringify(request.family)}`);
  }
  const family = (request.family ?? (file.family === undefined ? 'supervised' : reader.string('family', file.family, BACKBONE_FAMILIES))) as BackboneFamily;
  if (suite === 'demo' && family !== 'supervised') throw new UsageError(`the demo suite's backbones are its own supervised pretraining: family ${family} does not apply`);
  const methods = variants.map(({ name, base: method, options: fixed }): SuiteMethod => {
    // ADE20K's SETR-PUP heads replace the classifier: only the recipe's options carry over.
    const base = suite === 'demo' ? demoRecipe(method) : suite === 'ade20k' ? segmentationRecipe(method) : recipeFor(method, family);
    // A variant: its base's recipe and settings, then its name's options, then its own settings.
    const inherited = name === method ? [] : [method];
    const recipe = [...inherited, name].reduce((current, layer) => applyOverride(current, overrideOf(layer)), applyOverride(base, shared));
    const own = optionsOf(name);
    for (const key of Object.keys(own)) {
      if (Object.hasOwn(fixed, key)) reader.fail(`options.${options.get(name)!.key}.${key}`, own[key], `is fixed by the method's name (${key}=${String(fixed[key])})`);
    }
    const merged = { ...base.options, ...(name === method ? {} : optionsOf(method)), ...fixed, ...own };
    return { name, recipe: { ...recipe, options: merged } };
  });

  // The file's backbones are checked even when the command line replaces them.
  const base = dirname(path);
  const inFile = (path: string) => (path.endsWith('.json') || path.includes('/') ? resolve(base, path) : path);
  const fileSpecs =
    file.backbones === undefined
      ? undefined
      : reader.list('backbones', file.backbones).map((value, index) => {
          const raw = reader.record(`backbones[${index}]`, value, ['name', 'config', 'weights']);
          return {
            config: inFile(reader.string(`backbones[${index}].config`, raw.config)),
            weights: raw.weights === undefined ? null : resolve(base, reader.string(`backbones[${index}].weights`, raw.weights)),
            ...(raw.name === undefined ? {} : { name: safeFileName(reader, `backbones[${index}].name`, raw.name) }),
          };
        });
  const specs: { config: string; weights: string | null; name?: string }[] | undefined =
    request.backbone !== undefined ? [request.backbone] : (fileSpecs ?? (suite === 'demo' ? demoBackbones() : undefined));
  if (specs === undefined) throw new UsageError('run: --backbone is required (or a suite file with backbones)');
  const backbones: SuiteBackbone[] = [];
  const weightPaths = new Map<string, string | null>();
  for (const spec of specs) {
    const name = spec.name ?? backboneName(spec.config, spec.weights);
    if (!isSafeName(name)) {
      // A name from a file's stem: say which file, and that a suite file's `name` can replace it.
      throw new UsageError(`backbone name ${JSON.stringify(name)} (the stem of ${spec.weights ?? spec.config}) ${SAFE_NAME_RULE}; rename the file or give the backbone a name in a suite file`);
    }
    if (weightPaths.has(name)) throw new UsageError(`backbones: two backbones are named ${JSON.stringify(name)}; give each a distinct name`);
    backbones.push({ name, config: await resolveBackbone(spec.config), weights: spec.weights === null ? null : basename(spec.weights) });
    weightPaths.set(name, spec.weights);
  }
  const resolved: ResolvedSuite = { suite, family, tasks, methods, seeds, backbones };
  return { resolved, hash: suiteHash(resolved), weightPaths, paper };
}

/** What `run` learns of its inputs before opening a store: each checkpoint's SHA-256 and each task's data fingerprint. */
export interface InputIdentity {
  /** Backbone name -> SHA-256 of its checkpoint, or null for random weights. */
  readonly checkpoints: ReadonlyMap<string, string | null>;
  /** Task name -> fingerprint of the files its splits read. */
  readonly data: ReadonlyMap<string, DataFingerprint>;
}

/**
 * The plan with its inputs' identity in the resolved suite, and so in its hash and `suite.json`: a
 * store pointed at another checkpoint or other data under the same names is refused with the first
 * field that differs (`backbones[0].sha256`, `tasks[1].data.sha256`), as a changed configuration is.
 */
export function withInputs(plan: SuitePlan, identity: InputIdentity): SuitePlan {
  const resolved: ResolvedSuite = {
    ...plan.resolved,
    tasks: plan.resolved.tasks.map((task) => ({ ...task, data: identity.data.get(task.task)! })),
    backbones: plan.resolved.backbones.map((backbone) => ({ ...backbone, sha256: identity.checkpoints.get(backbone.name) ?? null })),
  };
  return { ...plan, resolved, hash: suiteHash(resolved) };
}

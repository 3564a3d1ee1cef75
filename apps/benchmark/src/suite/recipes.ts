import type { PipelinePresetName } from '@visual-peft/datasets';
import type { ScheduleConfigInput } from '@visual-peft/training';
import { ConfigError } from '@visual-peft/vit-core';
import type { TaskGroup } from './result-record';

/** The learning-rate x weight-decay grid searched on the tuning splits. */
export interface Grid {
  /** Base rates; with `batchScaling` each is multiplied by batchSize / 256 before use. */
  readonly learningRates: readonly number[];
  readonly weightDecays: readonly number[];
}

/** How a paper trains one method: everything a suite job needs besides the task, backbone and seed. */
export interface Recipe {
  /** The method's name in the app's registry (`--method`): a suite method may be a registry method with preset options. */
  readonly method: string;
  /** Options given to the method (a suite file's `options` are merged over them). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly optimizer: 'sgd' | 'adamw' | 'adam';
  readonly epochs: number;
  readonly batchSize: number;
  /** VPT's and VQT's linear scaling rule: the rate used is lr * batchSize / 256. */
  readonly batchScaling: boolean;
  readonly schedule: ScheduleConfigInput;
  readonly grid: Grid;
  /** The classifier's own weight decay, when the paper gives it one (else the grid's). */
  readonly headWeightDecay: number | null;
  /** Label smoothing per task group; groups not listed get none. */
  readonly labelSmoothing: Readonly<Partial<Record<TaskGroup, number>>>;
  /** Decay of an exponential moving average of the tuned weights, evaluated in place of them; null: none. */
  readonly ema: number | null;
  /** Stochastic depth of the backbone while training. */
  readonly dropPathRate: number;
  /** Input pipelines for VTAB-1k tasks when the paper departs from the dataset's own (FGVC always uses its own). */
  readonly vtabPipelines: { readonly train: PipelinePresetName; readonly eval: PipelinePresetName } | null;
  /** Where the numbers come from. */
  readonly source: string;
  /** Present only in the ade20k suite's recipes: SETR-PUP training by iterations (`epochs` is then 0). */
  readonly segmentation?: SegmentationSettings;
}

/** What a semantic-segmentation recipe adds: its length, crop and heads (docs/recipes.md, ADE20K). */
export interface SegmentationSettings {
  /** Training steps. ADE20K: 160,000. */
  readonly iterations: number;
  /** Side of the training crop and of the sliding window; the backbone runs at this size (its position embedding resampled). 512. */
  readonly cropSize: number;
  /** Channels of every SETR-PUP head's convolutions. 256. */
  readonly headChannels: number;
  /** The heads' learning rate over the backbone group's (mmseg's lr_mult on 'head' keys). 10. */
  readonly headLearningRateMultiplier: number;
}

const VPT_GRID: Grid = { learningRates: [50, 25, 10, 5, 2.5, 1, 0.5, 0.25, 0.1, 0.05], weightDecays: [0.01, 1e-3, 1e-4, 0] };
const WARMUP_COSINE: ScheduleConfigInput = { kind: 'cosine', warmupEpochs: 10 };

/** VPT's protocol (Jia et al. 2022): SGD momentum 0.9, cosine with 10 warm-up epochs, 100 epochs, batch 128, lr x batch/256, its 10 x 4 grid. */
const VPT: Omit<Recipe, 'method' | 'source'> = {
  options: {},
  optimizer: 'sgd',
  epochs: 100,
  batchSize: 128,
  batchScaling: true,
  schedule: WARMUP_COSINE,
  grid: VPT_GRID,
  headWeightDecay: null,
  labelSmoothing: {},
  ema: null,
  dropPathRate: 0,
  vtabPipelines: null,
};

/**
 * Self-Prompt Tuning (Wang et al., ICML 2024): VPT's prompts initialised by k-means over the
 * training tokens, trained with AdamW (prompts wd 1e-2), cosine per step to 1e-8 after 10 warm-up
 * epochs, 100 epochs, batch 32, EMA 0.9999; lr 1e-3 (supervised and MoCo v3 backbones; MAE uses
 * 5e-2: set it in a suite file's grid). The paper fixes lr and wd, so the grid is one point.
 */
function spt(method: 'vpt-shallow' | 'vpt-deep', numPrompts: number): Recipe {
  return {
    method,
    options: { init: 'kmeans', numPrompts },
    optimizer: 'adamw',
    epochs: 100,
    batchSize: 32,
    batchScaling: false,
    schedule: { kind: 'cosine', unit: 'step', warmupEpochs: 10, minLr: 1e-8 },
    grid: { learningRates: [1e-3], weightDecays: [1e-2] },
    headWeightDecay: null,
    labelSmoothing: {},
    ema: 0.9999,
    dropPathRate: 0,
    vtabPipelines: null,
    source: 'SPT (ICML 2024), Sec. 4 and its released configs',
  };
}

/**
 * Every method a suite can run, by name, with the defaults of its paper. The baselines (linear
 * probe, full fine-tuning, BitFit, Adapter, AdaptFormer, LoRA, SSF) follow VPT's protocol: it is the
 * one the VPT, GatedPT and VQT tables ran them under (grid search with SGD on the same splits).
 */
const recipes: Record<string, Recipe> = {
  linear: { ...VPT, method: 'linear', source: 'VPT protocol (baseline)' },
  full: { ...VPT, method: 'full', source: 'VPT protocol (baseline)' },
  bias: { ...VPT, method: 'bias', source: 'VPT protocol (baseline)' },
  adapter: { ...VPT, method: 'adapter', source: 'VPT protocol (baseline)' },
  adaptformer: { ...VPT, method: 'adaptformer', source: 'VPT protocol (baseline)' },
  lora: { ...VPT, method: 'lora', source: 'VPT protocol (baseline)' },
  ssf: { ...VPT, method: 'ssf', source: 'VPT protocol (baseline)' },
  'vpt-shallow': { ...VPT, method: 'vpt-shallow', source: 'VPT (ECCV 2022), Appendix A' },
  'vpt-deep': { ...VPT, method: 'vpt-deep', source: 'VPT (ECCV 2022), Appendix A' },
  // GatedPT fixes its recipe: SGD lr 0.1, batch 64, wd 0, 100 epochs, 10 warm-up, 100 prompts, gates at -5.
  'gated-prompt': {
    ...VPT,
    method: 'gated-prompt',
    options: { numPrompts: 100, gateInit: 5, dropout: 0.1 },
    batchSize: 64,
    batchScaling: false,
    grid: { learningRates: [0.1], weightDecays: [0] },
    source: 'GatedPT (ICML 2023), Sec. 5 and its README',
  },
  'spt-shallow': spt('vpt-shallow', 100),
  'spt-deep': spt('vpt-deep', 20),
  // VQT: Adam, batch 128, lr x batch/256 over {1.0, 0.5, 0.25, 0.1, 0.05} x wd {0.01, 1e-3, 1e-4, 0}.
  vqt: {
    ...VPT,
    method: 'vqt',
    optimizer: 'adam',
    grid: { learningRates: [1, 0.5, 0.25, 0.1, 0.05], weightDecays: [0.01, 1e-3, 1e-4, 0] },
    source: 'VQT (CVPR 2023), Sec. 4.1',
  },
  // SCT: AdamW, batch 64, cosine from a 1e-6 warm-up to 1e-5, drop path 0.1, its 8 x 7 grid;
  // on VTAB-1k RandAugment with bicubic resizing, label smoothing 0.1 on Natural and Specialized.
  // The paper also searches the module's scale over {0.1, 0.2, ..., 1.0} (Sec. 4.1); the grid here
  // spans lr x wd only, so the scale stays the released configs' 1.0 unless a suite sets `sct: { scale }`.
  sct: {
    method: 'sct',
    options: {},
    optimizer: 'adamw',
    epochs: 100,
    batchSize: 64,
    batchScaling: false,
    schedule: { kind: 'cosine', warmupEpochs: 10, warmupStartLr: 1e-6, minLr: 1e-5 },
    grid: { learningRates: [0.1, 0.5, 0.01, 0.05, 0.001, 0.005, 1e-4, 5e-4], weightDecays: [0.1, 0.01, 0.05, 0.001, 0.005, 5e-4, 1e-4] },
    headWeightDecay: null,
    labelSmoothing: { natural: 0.1, specialized: 0.1 },
    ema: null,
    dropPathRate: 0.1,
    vtabPipelines: { train: 'vtab-sct-train', eval: 'vtab-sct-test' },
    source: 'SCT (arXiv 2309.08513), Sec. 4.1 and its released configs',
  },
};

export const RECIPES: Readonly<Record<string, Recipe>> = recipes;

const recipeNames = Object.keys(recipes);
/** Every recipe's name, those added by `registerRecipe` included. */
export const RECIPE_NAMES: readonly string[] = recipeNames;

/** Adds the recipe of a method registered by the app's `registerMethod`, so that suites can run it. */
export function registerRecipe(name: string, recipe: Recipe): void {
  if (recipes[name] !== undefined) throw new ConfigError('recipe name', name, 'is taken by a built-in recipe');
  recipes[name] = recipe;
  recipeNames.push(name);
}

/** The seeds VPT reports means over. */
export const PAPER_SEEDS: readonly number[] = [42, 44, 82, 100, 800];

/** Methods the ade20k suite cannot run, and why. */
export const SEGMENTATION_UNSUPPORTED: Readonly<Record<string, string>> = {
  vqt: "VQT's queries summarise each block without changing its patch tokens, and SETR-PUP reads only those tokens: it would train the heads alone (that is the linear method)",
  sct: "SCT chooses its channels by a class-aware score over image-level labels, and ADE20K has per-pixel labels only",
};

/**
 * A method's recipe for ADE20K: SETR-PUP on the tuned backbone as the GatedPT paper trains it
 * (GatedPT Sec. 5.1; mmseg's SETR config; docs/recipes.md): SGD momentum 0.9, lr 1e-3 without weight decay, the heads at
 * 10x, poly decay (power 0.9) to 1e-4 over 160k iterations of batch 16, 512 crops. No grid: ADE20K
 * has no held-out split to search on, and the papers report the validation split. The method keeps
 * its own options (prompts, gates, adapters).
 */
export function segmentationRecipe(name: string): Recipe {
  const paper = RECIPES[name]!;
  return {
    method: paper.method,
    options: paper.options,
    optimizer: 'sgd',
    epochs: 0,
    batchSize: 16,
    batchScaling: false,
    schedule: { kind: 'poly', unit: 'step', power: 0.9, minLr: 1e-4, warmupEpochs: 0 },
    grid: { learningRates: [1e-3], weightDecays: [0] },
    headWeightDecay: null,
    labelSmoothing: {},
    ema: null,
    dropPathRate: 0,
    vtabPipelines: null,
    source: `${paper.source}; ADE20K: SETR-PUP as GatedPT (ICML 2023) and mmseg's SETR config`,
    segmentation: { iterations: 160_000, cropSize: 512, headChannels: 256, headLearningRateMultiplier: 10 },
  };
}

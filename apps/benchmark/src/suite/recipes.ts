import type { DatasetName, PipelinePresetName } from '@visual-peft/datasets';
import { classificationProtocol } from '@visual-peft/datasets';
import type { ScheduleConfigInput } from '@visual-peft/training';
import type { HeadInit } from '@visual-peft/vit-core';
import { ConfigError, oneOf } from '@visual-peft/vit-core';
import type { TaskGroup } from './result-record';

/**
 * The pretraining behind a ViT-B/16 checkpoint, as the papers name it: supervised ImageNet-21k
 * (VPT, VQT, SCT, SPT), MAE and MoCo v3 on ImageNet-1k (GatedPT, SPT, VPT, VQT).
 */
export type BackboneFamily = 'supervised' | 'mae' | 'moco-v3';
export const BACKBONE_FAMILIES: readonly BackboneFamily[] = ['supervised', 'mae', 'moco-v3'];

/** A method's classifier as its official code builds it. */
export interface HeadSpec {
  readonly init: HeadInit;
  /** Standard deviation of a 'timm' init (absent: 0.02). */
  readonly std?: number;
  /**
   * What follows the mean of every non-CLS token (prompts included) on MAE: the checkpoint's own
   * final `norm` ('from-norm', GatedPT and SPT) or a fresh `fc_norm` at gamma 1, beta 0 ('fresh', VPT
   * and VQT, as MAE's own fine-tuning code, which deletes `norm`).
   */
  readonly maeNorm: 'from-norm' | 'fresh';
  readonly source: string;
}

/** What a backbone family changes in a method's recipe, and where that comes from. */
export interface FamilyChanges {
  readonly options?: Readonly<Record<string, unknown>>;
  readonly grid?: Grid;
  readonly headWeightDecay?: number | null;
  readonly head?: Partial<Omit<HeadSpec, 'source'>>;
  readonly source: string;
}

/**
 * The classifier of a resolved recipe: supervised and MoCo v3 read CLS after the final `norm`
 * (pool 'token', norm 'checkpoint'); MAE reads the mean of every non-CLS token (prompts included)
 * and then a LayerNorm (pool 'avg', norm 'from-norm' or 'fresh').
 */
export interface ClassifierSetup {
  readonly family: BackboneFamily;
  readonly pool: 'token' | 'avg';
  readonly norm: 'checkpoint' | 'from-norm' | 'fresh';
  readonly init: HeadInit;
  /** The 'timm' init's std; null for the other inits (and 0.02's default). */
  readonly std: number | null;
  readonly source: string;
}

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
  /** Label smoothing per task group, or per task (a dataset name, which wins over its group); none where not listed. */
  readonly labelSmoothing: Readonly<Partial<Record<TaskGroup | DatasetName, number>>>;
  /** Decay of an exponential moving average of the tuned weights, evaluated in place of them; null: none. */
  readonly ema: number | null;
  /** Stochastic depth of the backbone while training. */
  readonly dropPathRate: number;
  /**
   * Input pipelines for VTAB-1k tasks when the paper departs from the dataset's own (FGVC always
   * uses its own). With `augmented`, only those tasks train through `train`; the others train
   * through `eval` (no augmentation).
   */
  readonly vtabPipelines: { readonly train: PipelinePresetName; readonly eval: PipelinePresetName; readonly augmented?: readonly DatasetName[] } | null;
  /** Where the numbers come from. */
  readonly source: string;
  /** Present only in the ade20k suite's recipes: SETR-PUP training by iterations (`epochs` is then 0). */
  readonly segmentation?: SegmentationSettings;
  /** The method's classifier per its official code; absent (a registered method): timm's init, MAE with a fresh `fc_norm`. */
  readonly head?: HeadSpec;
  /** What the MAE and MoCo v3 (or supervised) setups of its paper or code change; absent families train as given. */
  readonly families?: Readonly<Partial<Record<BackboneFamily, FamilyChanges>>>;
  /** Set by `recipeFor`: the family the recipe was resolved for and the classifier it trains. */
  readonly classifier?: ClassifierSetup;
  /**
   * A two-stage method: the recipe of the method tuned first (its own search and final run, to
   * completion), which is then frozen while this recipe's method trains over it. `recipeFor`
   * resolves it for the same family.
   */
  readonly firstStage?: Recipe;
  /** Group-lasso compression of VQT's head after the final run (VQT Sec. 3.3); absent: none. */
  readonly compress?: CompressSettings;
}

/** VQT's optional compression of its head by group lasso over the head's input features (VQT Sec. 3.3). */
export interface CompressSettings {
  /** Fraction of the head's input features kept, in (0, 1]. The official script's example: 0.7. */
  readonly keepFraction: number;
  /** Weight of the group penalty. The official script's LRP_COEF: 1e-4. */
  readonly penalty: number;
}

/** The official code's compression settings (andytu28/VQT scripts/VQT/run_vqt_vtab_sparsity.sh: LRP_COEF 0.0001; README: FRACTION e.g. 0.7). */
export const VQT_COMPRESS: CompressSettings = { keepFraction: 0.7, penalty: 1e-4 };

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

/**
 * VPT's classifier: its `MLP` with no hidden layer, kaiming-normal (fan_out) weights and the prior
 * bias of `special_bias`; on MAE, the mean of the non-CLS tokens then a fresh `fc_norm`.
 */
const VPT_HEAD: HeadSpec = {
  init: 'vpt',
  maeNorm: 'fresh',
  source: 'KMnP/vpt src/models/mlp.py (kaiming_normal_ fan_out, special_bias) built by src/models/vit_models.py; MAE: src/models/vit_backbones/vit_mae.py (global pool, fc_norm, norm deleted)',
};

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
  head: VPT_HEAD,
};

/**
 * GatedPT's VPT baselines on MAE and MoCo v3: VPT-shallow with 100 prompts, VPT-deep with 10 per
 * block (GatedPT Sec. 5.2.1, Table 3); the paper gives no other recipe for them, so VPT's stays.
 */
function gatedPtBaseline(numPrompts: number): FamilyChanges {
  return { options: { numPrompts }, source: `${numPrompts} prompts as GatedPT (ICML 2023) Sec. 5.2.1 and Table 3 compare` };
}

/** GatedPT's learning-rate search on both self-supervised backbones (Appendix A.2), SGD without weight decay. */
const GATED_PT_GRID: Grid = { learningRates: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], weightDecays: [0] };

/**
 * Self-Prompt Tuning (Wang et al., ICML 2024): VPT's prompts initialised by k-means over the
 * training tokens, trained with AdamW (prompts wd 1e-2, the head's weight its own wd_head, biases
 * none), cosine per step to 1e-8 after 10 warm-up epochs, 100 epochs, batch 32, EMA 0.9999; lr 1e-3
 * and wd_head 3.0 on supervised and MoCo v3, lr 5e-2 and wd_head 0.5 on MAE (the code's README
 * examples). The head starts as timm's (trunc-normal std 0.02; 0.01 in the MoCo v3 script). The
 * paper fixes lr and wd, so the grid is one point.
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
    headWeightDecay: 3,
    labelSmoothing: {},
    ema: 0.9999,
    dropPathRate: 0,
    vtabPipelines: null,
    source: 'SPT (ICML 2024), Sec. 4; its code (SinAxCosB/Self-Prompt-Tuning) README: --lr 1e-3 --wd_head 3.0 for MoCo v3 and supervised',
    head: {
      init: 'timm',
      maeNorm: 'from-norm',
      source: 'SPT code train.py and train_MAE.py create_model (trunc_normal_ std .02, bias 0); MAE: Models/MAE_vpt.py (mean of every token but CLS, then norm)',
    },
    families: {
      mae: {
        grid: { learningRates: [5e-2], weightDecays: [1e-2] },
        headWeightDecay: 0.5,
        source: 'SPT code README, MAE example: --lr 5e-2 --wd_head 0.5',
      },
      'moco-v3': { head: { std: 0.01 }, source: 'SPT code train_MoCo.py create_model: trunc_normal_ std .01' },
    },
  };
}

/**
 * Every method a suite can run, by name, with the defaults of its paper. The baselines (linear
 * probe, full fine-tuning, BitFit, Adapter, AdaptFormer, LoRA, SSF) follow VPT's protocol: it is the
 * one the VPT, GatedPT and VQT tables ran them under (grid search with SGD on the same splits).
 */
/** The VTAB-1k tasks SCT trains with RandAugment (`train_aug: True` in its released configs). */
const SCT_AUGMENTED_TASKS: readonly DatasetName[] = [
  'vtab-clevr_count',
  'vtab-clevr_dist',
  'vtab-diabetic_retinopathy',
  'vtab-dmlab',
  'vtab-dtd',
  'vtab-eurosat',
  'vtab-kitti',
  'vtab-oxford_iiit_pet',
  'vtab-patch_camelyon',
  'vtab-resisc45',
  'vtab-svhn',
];

const recipes: Record<string, Recipe> = {
  linear: { ...VPT, method: 'linear', source: 'VPT protocol (baseline)' },
  full: { ...VPT, method: 'full', source: 'VPT protocol (baseline)' },
  bias: { ...VPT, method: 'bias', source: 'VPT protocol (baseline)' },
  adapter: { ...VPT, method: 'adapter', source: 'VPT protocol (baseline)' },
  adaptformer: { ...VPT, method: 'adaptformer', source: 'VPT protocol (baseline)' },
  lora: { ...VPT, method: 'lora', source: 'VPT protocol (baseline)' },
  ssf: { ...VPT, method: 'ssf', source: 'VPT protocol (baseline)' },
  'vpt-shallow': { ...VPT, method: 'vpt-shallow', source: 'VPT (ECCV 2022), Appendix A', families: { mae: gatedPtBaseline(100), 'moco-v3': gatedPtBaseline(100) } },
  'vpt-deep': { ...VPT, method: 'vpt-deep', source: 'VPT (ECCV 2022), Appendix A', families: { mae: gatedPtBaseline(10), 'moco-v3': gatedPtBaseline(10) } },
  // GatedPT fixes its recipe: SGD lr 0.1, batch 64, wd 0, 100 epochs, 10 warm-up, 100 prompts, gates at -5.
  'gated-prompt': {
    ...VPT,
    method: 'gated-prompt',
    options: { numPrompts: 100, gateInit: 5, dropout: 0.1 },
    batchSize: 64,
    batchScaling: false,
    grid: { learningRates: [0.1], weightDecays: [0] },
    source: 'GatedPT (ICML 2023), Sec. 5 and its README',
    head: {
      init: 'vpt',
      maeNorm: 'from-norm',
      source:
        "GatedPromptTuning src/models/vit_models.py SSLViT.setup_head (VPT's MLP, special_bias); MAE: src/models/vit_prompt/vit_mae.py (mean of every token but CLS, then norm); MoCo v3: vit_moco.py with run.sh's VIT_POOL_TYPE original (norm, then CLS)",
    },
    families: {
      mae: { grid: GATED_PT_GRID, source: 'GatedPT (ICML 2023) Appendix A.2: SGD, lr searched in {0.05, ..., 5.0}; run.sh: weight decay 0' },
      'moco-v3': { grid: GATED_PT_GRID, source: 'GatedPT (ICML 2023) Appendix A.2: SGD, lr searched in {0.05, ..., 5.0}; run.sh: weight decay 0' },
    },
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
    head: {
      init: 'vpt',
      maeNorm: 'fresh',
      source: "andytu28/VQT src/models/build_h2t_model.py H2TViT.setup_head (VPT's MLP, special_bias); MAE: src/models/vit_backbones/h2t_vit_mae.py (global pool, fresh fc_norm)",
    },
  },
  // SCT: AdamW, batch 64, cosine from a 1e-6 warm-up to 1e-5, drop path 0.1, its 8 x 7 grid; on
  // VTAB-1k, per task as its released configs set them (zhaohengyuan1/SCT configs/model_sct/vtab/*.yaml):
  // RandAugment with bicubic resizing where `train_aug: True` (11 tasks; the others train on the test
  // transform, vtab.py get_data), label smoothing 0.1 on Natural, Specialized and KITTI.
  // The paper also searches the module's scale over {0.1, 0.2, ..., 1.0} (Sec. 4.1); the grid here
  // spans lr x wd only, so the scale stays the released configs' 1.0. The scale search is a set of
  // variants, one row each: methods sct[scale=0.1], sct[scale=0.2], ..., sct[scale=1].
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
    labelSmoothing: { natural: 0.1, specialized: 0.1, 'vtab-kitti': 0.1 },
    ema: null,
    dropPathRate: 0.1,
    vtabPipelines: { train: 'vtab-sct-train', eval: 'vtab-sct-test', augmented: SCT_AUGMENTED_TASKS },
    source: 'SCT (arXiv 2309.08513), Sec. 4.1 and its released configs',
    head: {
      init: 'torch',
      maeNorm: 'fresh',
      source:
        "SCT's code (zhaohengyuan1/SCT) train_model_sct.py: model.reset_classifier, timm's fresh nn.Linear (PyTorch's default init); SCT runs supervised ImageNet-21k only, so MAE is read as MAE's own fine-tuning code does",
    },
  },
};

/**
 * VQT over a tuned VPT-deep or AdaptFormer (VQT, CVPR 2023, Sec. 4.3 and Table 2): the base method
 * is tuned first with its own recipe (VPT's protocol and grid), then frozen, and VQT adds T = 1
 * query per block to summarise the updated features, trained with VQT's own recipe (Adam, its grid).
 * The paper uses AdaptFormer's default bottleneck 64 (the package default) and, for VPT, VPT's best
 * prompt count per task, which VPT's paper reports and no recipe here holds: stage 1 keeps the
 * VPT-deep recipe's count (and its families' counts). Stage 2 trains VQT's queries
 * and head only; the paper's appendix with the stage-2 settings is not in the translation we have,
 * so VQT's Sec. 4.1 recipe is used unchanged.
 */
function vqtOver(base: 'vpt-deep' | 'adaptformer'): Recipe {
  const vqt = recipes.vqt!;
  return {
    ...vqt,
    options: { ...vqt.options, numQueries: 1 },
    firstStage: recipes[base]!,
    source: `VQT (CVPR 2023), Sec. 4.3 and Table 2: ${base} tuned and frozen, then VQT with one query per block; stage 1: ${recipes[base]!.source}; stage 2: ${vqt.source}`,
  };
}
recipes['vqt+vpt-deep'] = vqtOver('vpt-deep');
recipes['vqt+adaptformer'] = vqtOver('adaptformer');

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

/** A registered method's recipe without a head: timm's reset head, and MAE as its own fine-tuning code reads it. */
const DEFAULT_HEAD: HeadSpec = { init: 'timm', maeNorm: 'fresh', source: "timm's head (the recipe names none); MAE: MAE's models_vit.py (global pool, fc_norm)" };

/** The classifier a head spec gives on a family: CLS after `norm`, or on MAE the pooled mean and the spec's norm. */
export function classifierSetup(head: HeadSpec | undefined, family: BackboneFamily): ClassifierSetup {
  const spec = head ?? DEFAULT_HEAD;
  return {
    family,
    pool: family === 'mae' ? 'avg' : 'token',
    norm: family === 'mae' ? spec.maeNorm : 'checkpoint',
    init: spec.init,
    std: spec.std ?? null,
    source: spec.source,
  };
}

/**
 * A method's recipe for a backbone family: the family's changes (options, grid, head weight decay,
 * head init) over the method's recipe, and the classifier it trains (pool, norm, init), each with
 * its source appended.
 */
export function recipeFor(name: string, family: BackboneFamily): Recipe {
  const base = RECIPES[name];
  if (base === undefined) throw new ConfigError('recipe', name, `must be one of ${RECIPE_NAMES.join(', ')}`);
  return resolveRecipe(base, oneOf('family', family, BACKBONE_FAMILIES));
}

function resolveRecipe(base: Recipe, checked: BackboneFamily): Recipe {
  const { families, head: ownHead, firstStage, ...recipe } = base;
  const changes = families?.[checked];
  const classifier = classifierSetup({ ...(ownHead ?? DEFAULT_HEAD), ...changes?.head }, checked);
  return {
    ...recipe,
    options: { ...recipe.options, ...changes?.options },
    grid: changes?.grid ?? recipe.grid,
    headWeightDecay: changes?.headWeightDecay === undefined ? recipe.headWeightDecay : changes.headWeightDecay,
    source: changes === undefined ? recipe.source : `${recipe.source}; ${checked}: ${changes.source}`,
    classifier,
    ...(firstStage === undefined ? {} : { firstStage: resolveRecipe(firstStage, checked) }),
  };
}

/** The seeds VPT reports means over. */
export const PAPER_SEEDS: readonly number[] = [42, 44, 82, 100, 800];

/** Methods the ade20k suite cannot run, and why. */
export const SEGMENTATION_UNSUPPORTED: Readonly<Record<string, string>> = {
  vqt: "VQT's queries summarise each block without changing its patch tokens, and SETR-PUP reads only those tokens: it would train the heads alone (that is the linear method)",
  'vqt+vpt-deep': "VQT's queries summarise each block without changing its patch tokens, and SETR-PUP reads only those tokens: it would train the heads over VPT-deep alone (that is vpt-deep)",
  'vqt+adaptformer': "VQT's queries summarise each block without changing its patch tokens, and SETR-PUP reads only those tokens: it would train the heads over AdaptFormer alone (that is adaptformer)",
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

/**
 * The input pipelines and label smoothing `recipe` trains a classification task with: the
 * dataset's own pipelines unless the recipe sets VTAB-1k's (then per task, when it names the
 * augmented ones), and the task's own smoothing before its group's.
 */
export function taskTraining(
  recipe: Recipe,
  task: { readonly dataset: DatasetName; readonly group: TaskGroup },
): { pipelines: { train: PipelinePresetName; eval: PipelinePresetName }; labelSmoothing: number } {
  const vtab = recipe.vtabPipelines !== null && task.dataset.startsWith('vtab-') ? recipe.vtabPipelines : null;
  let pipelines: { train: PipelinePresetName; eval: PipelinePresetName };
  if (vtab === null) {
    const protocol = classificationProtocol(task.dataset);
    pipelines = { train: protocol.trainPipeline, eval: protocol.evalPipeline };
  } else {
    pipelines = { train: vtab.augmented === undefined || vtab.augmented.includes(task.dataset) ? vtab.train : vtab.eval, eval: vtab.eval };
  }
  return { pipelines, labelSmoothing: recipe.labelSmoothing[task.dataset] ?? recipe.labelSmoothing[task.group] ?? 0 };
}

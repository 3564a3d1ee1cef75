import * as tf from '@tensorflow/tfjs-core';
import type {
  BlockContext,
  DeclaredVariable,
  Diagnostic,
  ForwardContext,
  ForwardOptions,
  ForwardPassContext,
  KeysValues,
  MethodDefinition,
  SavedState,
  TrainingForward,
  TuningMethod,
  VisionTransformer,
  VitConfig,
} from '@visual-peft/vit-core';
import { MethodBase, ShapeError, checkTensors, perImageDropout } from '@visual-peft/vit-core';
import type { VisualQueryConfig, VisualQueryConfigInput } from './config';
import { resolveVisualQueryConfig } from './config';
import { VQT_OFFICIAL_NAMES } from './official-names';

/** What the frozen backbone contributes to a batch: computed once, outside the gradient tape. */
export interface FrozenFeatures {
  /** The backbone's own head input (CLS after the final norm, or MAE's normed mean), [B, D]. */
  readonly pooled: tf.Tensor2D;
  /** Each block's attention keys and values over the backbone's tokens. */
  readonly keysValues: readonly KeysValues[];
}

export interface VisualQueryTuning extends TuningMethod {
  readonly config: VisualQueryConfig & Readonly<Record<string, unknown>>;
  /** Width of the head's input: D + sum over blocks of T_l * D (before any feature selection). */
  readonly featureDim: number;
  /**
   * The frozen part of a training step: the backbone (with every other attached method, this one
   * switched off) run once, returning each block's keys and values and the pooled features. Call
   * it outside the gradient tape; the caller disposes the result (`disposeFrozen`).
   */
  frozenPass(images: tf.Tensor4D, options?: ForwardOptions): FrozenFeatures;
  /** Logits from the query path alone: the only computation a training step must record. */
  logitsFromFrozen(frozen: FrozenFeatures, options?: ForwardOptions): tf.Tensor2D;
  /** The head's input features [B, featureDim] (all groups, before feature selection). */
  featuresFromFrozen(frozen: FrozenFeatures, options?: ForwardOptions): tf.Tensor2D;
  /**
   * A training step that keeps the backbone off the gradient tape: `prepare` is the frozen pass,
   * `logits` the query path and the head. Training's `modelForward(model)` uses it while VQT is attached.
   */
  trainingForward(): TrainingForward;
  /**
   * The importance of each group of the head's input, [CLS, block 0, ..., block L-1] (VQT Sec. 4.5,
   * Figure 4: a layer's score is the mean importance of its features). A feature's importance is the
   * L2 norm of its head weights over the classes, the score the official code ranks features by for
   * group-lasso selection; features a selection dropped count as zero, so the scale does not change
   * with one. "CLS" is the backbone's pooled features (CLS after the final norm, or MAE's mean).
   */
  groupImportance(): number[];
  /**
   * Each block's share of the blocks' `groupImportance()` values (CLS left out).
   * @deprecated Use `groupImportance()`, which keeps the CLS group and is what the `query-importance`
   * and `cls-importance` diagnostics report; this wrapper goes in the next release.
   */
  blockImportance(): number[];
  /**
   * `groupImportance()` as records (reads nothing of the probe): `query-importance` per block from
   * block 0, and `cls-importance`, the CLS group's value on the same scale.
   */
  diagnostics(): Diagnostic[];
  /**
   * Keep only `features` (indices into the head's input) with a new head of that width: the result
   * of group-lasso compression. Pass null to go back to all features with a fresh head.
   */
  selectFeatures(features: Int32Array | null, head?: { weight: tf.Tensor2D; bias: tf.Tensor1D }): void;
  /** The kept feature indices, or null when all are used. */
  selectedFeatures(): Int32Array | null;
  /** VQT's own classifier: weight [in, classes] and bias. */
  headVariables(): { weight: tf.Variable; bias: tf.Variable };
}

/** PyTorch's F.normalize(x, dim=-1): x / max(||x||, 1e-12). */
function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12));
}

const PRIOR_PROBABILITY = 0.01;

type VqtConfig = VisualQueryConfig & Readonly<Record<string, unknown>>;

/**
 * VQT: T_l learnable query tokens per block pass through the whole block (norm1, attention,
 * residual, norm2, MLP, residual) while inside attention only they query, with keys and values from
 * the block's own tokens, so the backbone's tokens are exactly the frozen model's. The head reads the
 * backbone's pooled features and every block's query outputs (T_l * D each), each group
 * L2-normalised on its own, concatenated. Saved as `blocks.{i}.queries` [1, T_i, D], `head.weight`
 * [classes, in] (PyTorch's Linear layout), `head.bias` and, after feature selection, `head.features`.
 */
export class VqtMethod extends MethodBase<VqtConfig> implements VisualQueryTuning {
  readonly name = 'vqt';
  readonly featureDim: number;
  private readonly model: VisionTransformer;
  private readonly dim: number;
  private readonly dropoutSite: number;
  private readonly outputsKey = Symbol('vqt-query-outputs');
  private selection: Int32Array | null = null;

  constructor(model: VisionTransformer, config: VisualQueryConfig) {
    super(config as VqtConfig);
    this.model = model;
    const { embedDim: dim, patchSize } = model.config;
    this.dim = dim;
    this.featureDim = dim * (1 + config.numQueries.reduce((a, b) => a + b, 0));
    this.dropoutSite = this.site('query-dropout');
    // VPT's prompt initialisation (the VQT code builds on VPT's): uniform(-v, v), v = sqrt(6 / (3 p^2 + D)).
    const bound = Math.sqrt(6 / (3 * patchSize * patchSize + dim));
    config.numQueries.forEach((count, block) =>
      this.addVariable(`blocks.${block}.queries`, (seed) => tf.randomUniform([1, count, dim], -bound, bound, 'float32', seed)),
    );
    this.addVariable('head.weight', (seed) => this.initialHeadWeight(this.featureDim, seed), { saved: 'transposed', classifier: true });
    this.addVariable('head.bias', () => this.initialHeadBias(), { classifier: true });
  }

  // ---- hooks: the query path inside the model's own forward pass ----

  queryTokens(batch: number, context: BlockContext): tf.Tensor3D {
    return this.queryBatch(context.blockIndex, batch, context);
  }

  queryOutputs(outputs: tf.Tensor3D, context: BlockContext): void {
    const list = (context.state.get(this.outputsKey) as tf.Tensor3D[] | undefined) ?? [];
    list[context.blockIndex] = outputs;
    context.state.set(this.outputsKey, list);
  }

  headInput(pooled: tf.Tensor2D, context: ForwardContext): tf.Tensor2D {
    const outputs = context.state.get(this.outputsKey) as tf.Tensor3D[] | undefined;
    if (outputs === undefined || outputs.length !== this.model.config.depth) {
      throw new ShapeError('VQT: the head was asked for features without the query outputs of every block in the same forward pass');
    }
    return this.features(pooled, outputs);
  }

  classify(all: tf.Tensor2D): tf.Tensor2D {
    const kept = this.selection === null ? all : (tf.gather(all, this.selection, 1) as tf.Tensor2D);
    return tf.add(tf.matMul(kept, this.variable('head.weight') as tf.Tensor2D), this.variable('head.bias'));
  }

  // ---- the memory path: the frozen backbone once, off the tape; the query path on it ----

  frozenPass(images: tf.Tensor4D, options: ForwardOptions = {}): FrozenFeatures {
    // The backbone with every other attached method, this one switched off (no query tokens).
    const run = () =>
      tf.tidy(() => {
        const { features: tokens, keysValues } = this.model.forwardKeysValues(images, options);
        // tidy keeps every tensor nested in the returned object; only its type signature is narrower.
        return { pooled: this.model.pool(tokens, options), keysValues } satisfies FrozenFeatures as unknown as tf.TensorContainer;
      }) as unknown as FrozenFeatures;
    return this.withoutSelf(this.model, run);
  }

  featuresFromFrozen(frozen: FrozenFeatures, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.features(frozen.pooled, this.queryPath(frozen, options)));
  }

  logitsFromFrozen(frozen: FrozenFeatures, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.classify(this.features(frozen.pooled, this.queryPath(frozen, options))));
  }

  trainingForward(): TrainingForward {
    const options = (context: ForwardPassContext): ForwardOptions => ({
      training: context.training,
      seed: context.seed,
      imageOffset: context.imageOffset,
      recompute: context.recompute,
    });
    // Nothing of the frozen pass is recorded (it runs before the tape opens), so it never recomputes.
    const frozenPass = (images: tf.Tensor4D, context: ForwardPassContext) => this.frozenPass(images, { ...options(context), recompute: false });
    return {
      // A trainer's prepared value is any TensorContainer; FrozenFeatures is one (tensors in an object and an array).
      prepare: (images, context) => frozenPass(images, context) as unknown as tf.TensorContainer,
      logits: (images, context, prepared) => {
        if (prepared !== undefined) return this.logitsFromFrozen(prepared as unknown as FrozenFeatures, options(context));
        const own = frozenPass(images, context);
        try {
          return this.logitsFromFrozen(own, options(context));
        } finally {
          disposeFrozen(own);
        }
      },
    };
  }

  // ---- analysis ----

  groupImportance(): number[] {
    // Each kept feature's importance: the L2 norm of its row of the head ([in, classes]).
    const featureNorms = tf.tidy(() => tf.norm(this.variable('head.weight'), 'euclidean', 1).dataSync() as Float32Array);
    const sizes = this.groupSizes();
    const totals = new Float64Array(sizes.length);
    const groups = this.rowGroups();
    featureNorms.forEach((value, row) => (totals[groups[row]!]! += value));
    // The mean over every feature of the group, dropped ones at zero.
    return Array.from(totals, (total, group) => total / sizes[group]!);
  }

  /** @deprecated Use `groupImportance()` (see `VisualQueryTuning.blockImportance`); goes in the next release. */
  blockImportance(): number[] {
    const blocks = this.groupImportance().slice(1);
    const total = blocks.reduce((sum, value) => sum + value, 0);
    return blocks.map((value) => (total === 0 ? 0 : value / total));
  }

  diagnostics(): Diagnostic[] {
    const [cls, ...blocks] = this.groupImportance();
    const source = 'the mean over its features of their head-weight L2 norms (VQT, Sec. 4.5, Figure 4)';
    return [
      { kind: 'per-block', name: 'query-importance', title: `importance of each block's query features: ${source}`, firstBlock: 0, values: blocks },
      { kind: 'scalar', name: 'cls-importance', title: `importance of the CLS (pooled) features: ${source}`, value: cls! },
    ];
  }

  // ---- feature selection (group lasso) ----

  selectFeatures(kept: Int32Array | null, head?: { weight: tf.Tensor2D; bias: tf.Tensor1D }): void {
    this.checkSelection(kept);
    if (head !== undefined) {
      const { numClasses } = this.config;
      const expected = new Map([
        ['weight', { shape: [kept?.length ?? this.featureDim, numClasses], dtype: 'float32' }],
        ['bias', { shape: [numClasses], dtype: 'float32' }],
      ]);
      checkTensors('VQT head', expected, new Map<string, tf.Tensor>([['weight', head.weight], ['bias', head.bias]]));
    }
    this.setSelection(kept, head);
  }

  selectedFeatures(): Int32Array | null {
    return this.selection;
  }

  headVariables(): { weight: tf.Variable; bias: tf.Variable } {
    return { weight: this.variable('head.weight'), bias: this.variable('head.bias') };
  }

  protected override savedState(): Map<string, tf.Tensor> {
    return this.selection === null ? new Map() : new Map([['head.features', tf.tensor1d(this.selection, 'int32')]]);
  }

  /** `head.features`, when saved, narrows the head to the kept features. */
  protected override restoreState(weights: ReadonlyMap<string, tf.Tensor>): SavedState {
    const features = weights.get('head.features');
    const inputs = features?.size ?? this.featureDim;
    const kept = () => (features === undefined ? null : Int32Array.from(features.dataSync()));
    return {
      expected: new Map(features === undefined ? [] : [['head.features', { shape: [inputs], dtype: 'int32' }]]),
      variableShapes: new Map([['head.weight', [inputs, this.config.numClasses]]]),
      validate: () => this.checkSelection(kept()),
      // A head of the saved width; the loaded head overwrites its draws next.
      apply: () => this.setSelection(kept()),
    };
  }

  // ---- internals ----

  private initialHeadWeight(inputs: number, seed: number): tf.Tensor2D {
    // The VPT/GatedPT/VQT head: kaiming-normal (fan_out = classes).
    return tf.randomNormal([inputs, this.config.numClasses], 0, Math.sqrt(2 / this.config.numClasses), 'float32', seed);
  }

  private initialHeadBias(): tf.Tensor1D {
    // Bias -log((1 - 0.01) / 0.01): every class starts at probability 0.01.
    return tf.fill([this.config.numClasses], -Math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY));
  }

  private checkSelection(kept: Int32Array | null): void {
    const { featureDim } = this;
    if (kept !== null && (kept.length === 0 || !kept.every((index, i) => Number.isInteger(index) && index >= 0 && index < featureDim && (i === 0 || index > kept[i - 1]!)))) {
      throw new ShapeError(`selected features must be distinct ascending indices in [0, ${featureDim - 1}]`);
    }
  }

  /** Installs a checked selection with a head of its width: a copy of `head`, or fresh draws. */
  private setSelection(kept: Int32Array | null, head?: { weight: tf.Tensor2D; bias: tf.Tensor1D }): void {
    this.selection = kept === null ? null : Int32Array.from(kept);
    const inputs = kept?.length ?? this.featureDim;
    this.replaceVariable('head.weight', (seed) => head?.weight.clone() ?? this.initialHeadWeight(inputs, seed));
    this.replaceVariable('head.bias', () => head?.bias.clone() ?? this.initialHeadBias());
  }

  /** Features per group of the head's input: D for the pooled features, T_l * D for block l's query outputs. */
  private groupSizes(): number[] {
    return [this.dim, ...this.config.numQueries.map((count) => count * this.dim)];
  }

  /** The group of each row of the head: 0 for the pooled features, 1 + l for block l's query outputs. */
  private rowGroups(): Int32Array {
    const sizes = this.groupSizes();
    const groupOf = new Int32Array(this.featureDim);
    sizes.reduce((offset, size, group) => (groupOf.fill(group, offset, offset + size), offset + size), 0);
    return this.selection === null ? groupOf : this.selection.map((feature) => groupOf[feature]!);
  }

  private queryBatch(block: number, batch: number, context: ForwardContext): tf.Tensor3D {
    const count = this.config.numQueries[block]!;
    const tokens = tf.broadcastTo(this.variable(`blocks.${block}.queries`), [batch, count, this.dim]) as tf.Tensor3D;
    if (!context.training || this.config.dropout === 0) return tokens;
    // Dropout after the expansion to the batch: each image gets its own mask, keyed by its place in the step's batch.
    return perImageDropout(tokens, this.config.dropout, context, [this.dropoutSite, block]);
  }

  private features(pooled: tf.Tensor2D, outputs: readonly tf.Tensor3D[]): tf.Tensor2D {
    const batch = pooled.shape[0];
    const groups = [pooled, ...outputs.map((out) => tf.reshape(out, [batch, -1]) as tf.Tensor2D)].map(l2Normalize);
    return tf.concat(groups, 1);
  }

  private queryPath(frozen: FrozenFeatures, options: ForwardOptions): tf.Tensor3D[] {
    const { depth } = this.model.config;
    if (frozen.keysValues.length !== depth) {
      throw new ShapeError(`frozen features must hold keys and values of ${depth} blocks, got ${frozen.keysValues.length}`);
    }
    const context: ForwardContext = {
      training: options.training ?? false,
      seed: options.seed,
      imageOffset: options.imageOffset ?? 0,
      recompute: options.recompute ?? false,
      state: options.state ?? new Map(),
    };
    const batch = frozen.pooled.shape[0];
    return this.model.blocks.map((block, index) =>
      block.forwardQueries(this.queryBatch(index, batch, context), frozen.keysValues[index]!, { ...context, blockIndex: index, depth }),
    );
  }
}

/**
 * VQT for `model` (not attached): T_l learnable query tokens per block and its own linear head over
 * the backbone's pooled features and the query outputs (see `VqtMethod`).
 */
export function createVisualQueryTuning(model: VisionTransformer, input: VisualQueryConfigInput = {}): VqtMethod {
  return new VqtMethod(model, resolveVisualQueryConfig(input, { depth: model.config.depth, numClasses: model.numClasses }));
}

/**
 * The variables `createVisualQueryTuning` builds on a backbone of `backbone`, without building them:
 * the queries of each block [1, T_l, D] and the head over every feature (held [in, out]), before any
 * feature selection narrows it.
 */
export function visualQueryShapes(backbone: VitConfig, input: VisualQueryConfigInput = {}): Map<string, DeclaredVariable> {
  const config = resolveVisualQueryConfig(input, backbone);
  const dim = backbone.embedDim;
  const featureDim = dim * (1 + config.numQueries.reduce((a, b) => a + b, 0));
  return new Map<string, DeclaredVariable>([
    ...config.numQueries.map((count, block): [string, DeclaredVariable] => [`blocks.${block}.queries`, { shape: [1, count, dim] }]),
    ['head.weight', { shape: [featureDim, config.numClasses], classifier: true }],
    ['head.bias', { shape: [config.numClasses], classifier: true }],
  ]);
}

/** Frees what `frozenPass` returned. */
export function disposeFrozen(frozen: FrozenFeatures): void {
  tf.dispose([frozen.pooled, ...frozen.keysValues.flatMap(({ keys, values }) => [keys, values])]);
}

/** `vqt` for the benchmark app and saved runs: options as in `VisualQueryConfigInput`. */
export const VQT_DEFINITION: MethodDefinition = {
  name: 'vqt',
  description: 'Visual Query Tuning: learnable query tokens per block summarise its features; no back-propagation through the backbone',
  // VQT brings its own classifier over the concatenated features; the backbone trains nothing.
  policy: 'frozen',
  // The frozen pass runs off the gradient tape; the query path does not recompute blocks.
  trainsThroughBlocks: false,
  create: (model, options) => createVisualQueryTuning(model, options as VisualQueryConfigInput),
  variableShapes: (backbone, options) => visualQueryShapes(backbone, options as VisualQueryConfigInput),
  officialNames: VQT_OFFICIAL_NAMES,
};

export const QUERY_TUNING_DEFINITIONS: readonly MethodDefinition[] = [VQT_DEFINITION];

/** What the query path needs of a training pass: mode, seed, and the pass's place in the step's batch (per-image dropout). */
export type QueryPassContext = Pick<ForwardOptions, 'imageOffset' | 'recompute'> & { readonly training: boolean; readonly seed: number | undefined };

/**
 * VQT's training step split as a trainer's `TrainingForward`: `prepare` the frozen backbone before
 * the gradient tape opens, `logits` only the query path on the tape.
 * @deprecated Use `vqt.trainingForward()`, which training's `modelForward(model)` picks up while VQT
 * is attached; this wrapper goes in the next release. Without a context, `prepare` runs the frozen
 * pass in evaluation mode, as it did.
 */
export function queryTrainingForward(vqt: VisualQueryTuning): {
  prepare(images: tf.Tensor4D, context?: QueryPassContext): FrozenFeatures;
  logits(images: tf.Tensor4D, context: QueryPassContext, frozen: FrozenFeatures | undefined): tf.Tensor2D;
} {
  const pass = (context: QueryPassContext | undefined): ForwardPassContext => ({
    training: context?.training ?? false,
    seed: context?.seed,
    imageOffset: context?.imageOffset ?? 0,
    recompute: context?.recompute ?? false,
    epoch: 0,
    globalStep: 0,
  });
  const forward = vqt.trainingForward();
  return {
    prepare: (images, context) => forward.prepare!(images, pass(context)) as unknown as FrozenFeatures,
    logits: (images, context, frozen) => forward.logits(images, pass(context), frozen as unknown as tf.TensorContainer),
  };
}

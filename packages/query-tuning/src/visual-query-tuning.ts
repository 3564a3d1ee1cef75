import * as tf from '@tensorflow/tfjs-core';
import type {
  BlockContext,
  ForwardContext,
  ForwardOptions,
  KeysValues,
  MethodDefinition,
  TuningMethod,
  VisionTransformer,
} from '@visual-peft/vit-core';
import { ShapeError, perImageDropout, randomSite, tfjsSeed } from '@visual-peft/vit-core';
import type { VisualQueryConfig, VisualQueryConfigInput } from './config';
import { resolveVisualQueryConfig } from './config';

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
   * The frozen part of a training step: the backbone (with every other attached method) run once,
   * returning each block's keys and values and the pooled features. Call it outside the gradient
   * tape; the caller disposes the result (`disposeFrozen`).
   */
  frozenPass(images: tf.Tensor4D, options?: ForwardOptions): FrozenFeatures;
  /** Logits from the query path alone: the only computation a training step must record. */
  logitsFromFrozen(frozen: FrozenFeatures, options?: ForwardOptions): tf.Tensor2D;
  /** The head's input features [B, featureDim] (all groups, before feature selection). */
  featuresFromFrozen(frozen: FrozenFeatures, options?: ForwardOptions): tf.Tensor2D;
  /** Mean absolute head weight of each group: [CLS, block 0, ..., block L-1] (the paper's Figure 4). */
  groupImportance(): number[];
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

/** The key of the query dropout's draws (with the block index). */
const QUERY_DROPOUT_SITE = randomSite('query-tuning/query-dropout');

/**
 * VQT: T_l learnable query tokens per block pass through the whole block (norm1, attention,
 * residual, norm2, MLP, residual) while inside attention only they query, with keys and values from
 * the block's own tokens, so the backbone's tokens are exactly the frozen model's. The head reads the
 * backbone's pooled features and every block's query outputs (T_l * D each), each group
 * L2-normalised on its own, concatenated.
 */
export function createVisualQueryTuning(model: VisionTransformer, input: VisualQueryConfigInput = {}): VisualQueryTuning {
  const config = resolveVisualQueryConfig(input, { depth: model.config.depth, numClasses: model.numClasses });
  const { embedDim: dim, patchSize } = model.config;
  // VPT's prompt initialisation (the VQT code builds on VPT's): uniform(-v, v), v = sqrt(6 / (3 p^2 + D)).
  const bound = Math.sqrt(6 / (3 * patchSize * patchSize + dim));
  const queries = config.numQueries.map((count, block) =>
    tf.tidy(() => tf.variable(tf.randomUniform([1, count, dim], -bound, bound, 'float32', config.seed * 7_919 + block), true)),
  );
  const featureDim = dim * (1 + config.numQueries.reduce((a, b) => a + b, 0));
  let selection: Int32Array | null = null;
  // The VPT/GatedPT/VQT head: kaiming-normal (fan_out = classes), bias -log((1 - 0.01) / 0.01).
  const makeHead = (inputs: number) => ({
    weight: tf.tidy(() => tf.variable(tf.randomNormal([inputs, config.numClasses], 0, Math.sqrt(2 / config.numClasses), 'float32', tfjsSeed(config.seed, 101)), true)),
    bias: tf.tidy(() => tf.variable(tf.fill([config.numClasses], -Math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)), true)),
  });
  let { weight, bias } = makeHead(featureDim);
  // The method's hooks stay silent while it runs the frozen pass itself.
  let frozenPassRunning = false;
  const outputsKey = Symbol('vqt-query-outputs');

  function queryBatch(block: number, batch: number, context: ForwardContext): tf.Tensor3D {
    const tokens = tf.broadcastTo(queries[block]!, [batch, config.numQueries[block]!, dim]) as tf.Tensor3D;
    if (!context.training || config.dropout === 0) return tokens;
    // Dropout after the expansion to the batch: each image gets its own mask, keyed by its place in the step's batch.
    return perImageDropout(tokens, config.dropout, context, [QUERY_DROPOUT_SITE, block]);
  }

  function features(pooled: tf.Tensor2D, outputs: readonly tf.Tensor3D[]): tf.Tensor2D {
    const batch = pooled.shape[0];
    const groups = [pooled, ...outputs.map((out) => tf.reshape(out, [batch, -1]) as tf.Tensor2D)].map(l2Normalize);
    return tf.concat(groups, 1);
  }

  function classify(all: tf.Tensor2D): tf.Tensor2D {
    const kept = selection === null ? all : (tf.gather(all, selection, 1) as tf.Tensor2D);
    return tf.add(tf.matMul(kept, weight as tf.Tensor2D), bias);
  }

  function blockContext(context: ForwardContext, blockIndex: number): BlockContext {
    return { ...context, blockIndex, depth: model.config.depth };
  }

  function queryOutputs(frozen: FrozenFeatures, context: ForwardContext): tf.Tensor3D[] {
    if (frozen.keysValues.length !== model.config.depth) {
      throw new ShapeError(`frozen features must hold keys and values of ${model.config.depth} blocks, got ${frozen.keysValues.length}`);
    }
    const batch = frozen.pooled.shape[0];
    return model.blocks.map((block, index) =>
      block.forwardQueries(queryBatch(index, batch, context), frozen.keysValues[index]!, blockContext(context, index)),
    );
  }

  const contextOf = (options: ForwardOptions): ForwardContext => ({
    training: options.training ?? false,
    seed: options.seed,
    imageOffset: options.imageOffset ?? 0,
    recompute: options.recompute ?? false,
    state: options.state ?? new Map(),
  });

  const method: VisualQueryTuning = {
    name: 'vqt',
    config: config as VisualQueryConfig & Readonly<Record<string, unknown>>,
    featureDim,
    queryTokens: (batch, context) => (frozenPassRunning ? undefined : queryBatch(context.blockIndex, batch, context)),
    queryOutputs: (outputs, context) => {
      const list = (context.state.get(outputsKey) as tf.Tensor3D[] | undefined) ?? [];
      list[context.blockIndex] = outputs;
      context.state.set(outputsKey, list);
    },
    headInput: (pooled, context) => {
      const outputs = context.state.get(outputsKey) as tf.Tensor3D[] | undefined;
      if (outputs === undefined || outputs.length !== model.config.depth) {
        throw new ShapeError('VQT: the head was asked for features without the query outputs of every block in the same forward pass');
      }
      return features(pooled, outputs);
    },
    classify: (all) => classify(all),
    frozenPass(images, options = {}) {
      frozenPassRunning = true;
      try {
        return tf.tidy(() => {
          const { features: tokens, keysValues } = model.forwardKeysValues(images, options);
          return { pooled: model.pool(tokens, options), keysValues: keysValues.map(({ keys, values }) => ({ keys, values })) } as unknown as tf.TensorContainer;
        }) as unknown as FrozenFeatures;
      } finally {
        frozenPassRunning = false;
      }
    },
    featuresFromFrozen: (frozen, options = {}) => tf.tidy(() => features(frozen.pooled, queryOutputs(frozen, contextOf(options)))),
    logitsFromFrozen: (frozen, options = {}) => tf.tidy(() => classify(features(frozen.pooled, queryOutputs(frozen, contextOf(options))))),
    groupImportance() {
      const meanAbs = tf.tidy(() => tf.mean(tf.abs(weight), 1).dataSync() as Float32Array);
      const bounds = [dim, ...config.numQueries.map((count) => count * dim)];
      const group = new Int32Array(featureDim);
      let offset = 0;
      bounds.forEach((size, index) => {
        group.fill(index, offset, offset + size);
        offset += size;
      });
      const totals = new Float64Array(bounds.length);
      const counts = new Float64Array(bounds.length);
      meanAbs.forEach((value, row) => {
        const feature = selection === null ? row : selection[row]!;
        totals[group[feature]!]! += value;
        counts[group[feature]!]! += 1;
      });
      return Array.from(totals, (total, index) => (counts[index]! > 0 ? total / counts[index]! : 0));
    },
    selectFeatures(kept, head) {
      if (kept !== null && (kept.length === 0 || !kept.every((index, i) => Number.isInteger(index) && index >= 0 && index < featureDim && (i === 0 || index > kept[i - 1]!)))) {
        throw new ShapeError(`selected features must be distinct ascending indices in [0, ${featureDim - 1}]`);
      }
      const inputs = kept === null ? featureDim : kept.length;
      if (head !== undefined && (head.weight.shape.join() !== `${inputs},${config.numClasses}` || head.bias.shape.join() !== `${config.numClasses}`)) {
        throw new ShapeError(`head must be weight [${inputs}, ${config.numClasses}] and bias [${config.numClasses}], got [${head.weight.shape.join(', ')}] and [${head.bias.shape.join(', ')}]`);
      }
      tf.dispose([weight, bias]);
      selection = kept === null ? null : Int32Array.from(kept);
      ({ weight, bias } = makeHead(inputs));
      if (head !== undefined) {
        weight.assign(head.weight);
        bias.assign(head.bias);
      }
    },
    selectedFeatures: () => selection,
    headVariables: () => ({ weight, bias }),
    trainableVariables: () => [...queries, weight, bias],
    numParameters: () => dim * config.numQueries.reduce((a, b) => a + b, 0),
    weights() {
      const out = new Map<string, tf.Tensor>(queries.map((query, block) => [`blocks.${block}.queries`, query.clone()]));
      out.set('head.weight', tf.transpose(weight)); // PyTorch's Linear layout [classes, in]
      out.set('head.bias', bias.clone());
      if (selection !== null) out.set('head.features', tf.tensor1d(selection, 'int32'));
      return out;
    },
    loadWeights(saved) {
      queries.forEach((query, block) => {
        const value = saved.get(`blocks.${block}.queries`);
        if (value === undefined || value.shape.join() !== query.shape.join()) {
          throw new ShapeError(`VQT weights: blocks.${block}.queries must be [${query.shape.join(', ')}], got ${value === undefined ? 'nothing' : `[${value.shape.join(', ')}]`}`);
        }
        query.assign(value);
      });
      const [headWeight, headBias, kept] = ['head.weight', 'head.bias', 'head.features'].map((key) => saved.get(key));
      if (headWeight === undefined || headBias === undefined) throw new ShapeError('VQT weights lack head.weight and head.bias');
      const transposed = tf.transpose(headWeight) as tf.Tensor2D;
      try {
        method.selectFeatures(kept === undefined ? null : Int32Array.from(kept.dataSync()), { weight: transposed, bias: headBias as tf.Tensor1D });
      } finally {
        transposed.dispose();
      }
    },
    dispose() {
      tf.dispose([...queries, weight, bias]);
    },
  };
  return method;
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
  create: (model, options) => createVisualQueryTuning(model, options as VisualQueryConfigInput),
};

export const QUERY_TUNING_DEFINITIONS: readonly MethodDefinition[] = [VQT_DEFINITION];

/** What the query path needs of a training pass: mode, seed, and the pass's place in the step's batch (per-image dropout). */
export type QueryPassContext = Pick<ForwardOptions, 'imageOffset' | 'recompute'> & { readonly training: boolean; readonly seed: number | undefined };

/**
 * VQT's training step for a trainer that splits the forward pass (as `@visual-peft/training`'s
 * `TrainingForward` does): `prepare` runs the frozen backbone before the gradient tape opens,
 * `logits` only the query path on the tape. Evaluation may use it too (it equals `model.forward`).
 */
export function queryTrainingForward(vqt: VisualQueryTuning): {
  prepare(images: tf.Tensor4D): FrozenFeatures;
  logits(images: tf.Tensor4D, context: QueryPassContext, frozen: FrozenFeatures | undefined): tf.Tensor2D;
} {
  return {
    prepare: (images) => vqt.frozenPass(images),
    logits: (images, context, frozen) => {
      if (frozen !== undefined) return vqt.logitsFromFrozen(frozen, context);
      const own = vqt.frozenPass(images);
      try {
        return vqt.logitsFromFrozen(own, context);
      } finally {
        disposeFrozen(own);
      }
    },
  };
}

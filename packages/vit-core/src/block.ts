import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, LinearSite, NormSite, SiteContext } from './extension';
import type { Hooks } from './hooks';
import { attention, dropPath, gelu, layerNorm, linear, reshape, residualAdd } from './ops';
import type { Initializer, Parameter, ParameterLayout } from './parameter';
import { createParameter } from './parameter';
import { randomSite } from './per-image-random';

const DROP_PATH_SITE = randomSite('vit-core/drop-path');

/** A linear projection whose weight is stored [in, out]; its output goes through the linear hooks. */
export class Linear {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly key: string,
    readonly site: LinearSite,
    inFeatures: number,
    outFeatures: number,
    options: {
      bias: boolean;
      seed: number;
      weightInit?: Initializer;
      biasInit?: Initializer;
      /** timm's shape and our layout of the weight when it is not a plain [out, in] matrix (the patch projection). */
      weightLayout?: { shape: readonly number[]; layout: ParameterLayout };
      /** Allocate zeros instead of drawing random values (a checkpoint will overwrite them). */
      zeros?: boolean;
    },
  ) {
    this.weight = createParameter(
      `${key}.weight`,
      options.weightLayout?.shape ?? [outFeatures, inFeatures],
      options.weightLayout?.layout ?? 'linear',
      options.zeros === true ? { kind: 'zeros' } : (options.weightInit ?? { kind: 'trunc-normal', std: 0.02 }),
      options.seed,
    );
    this.bias = options.bias
      ? createParameter(
          `${key}.bias`,
          [outFeatures],
          'identity',
          options.zeros === true ? { kind: 'zeros' } : (options.biasInit ?? { kind: 'zeros' }),
          options.seed + 1,
        )
      : null;
  }

  get parameters(): Parameter[] {
    return this.bias === null ? [this.weight] : [this.weight, this.bias];
  }

  /**
   * [..., in] -> [..., out], computed as one 2-D product over all leading axes. The reshapes keep
   * nothing for the backward pass, and the product keeps its input only when the weight trains.
   */
  apply<T extends tf.Tensor>(x: T, hooks: Hooks, context: SiteContext): T {
    const inFeatures = x.shape[x.rank - 1]!;
    const rows = reshape<tf.Tensor2D>(x, [-1, inFeatures]);
    const weight = this.weight.variable as tf.Tensor2D;
    const output = hooks.linear(this.site, rows, linear(rows, weight, (this.bias?.variable as tf.Tensor1D) ?? null), context);
    return reshape<T>(output, [...x.shape.slice(0, -1), output.shape[1]!]);
  }
}

/** LayerNorm with timm's `weight`/`bias` names; its output goes through the norm hooks. */
export class LayerNorm {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    readonly key: string,
    readonly site: NormSite,
    dim: number,
    readonly eps: number,
    seed: number,
  ) {
    this.weight = createParameter(`${key}.weight`, [dim], 'identity', { kind: 'ones' }, seed);
    this.bias = createParameter(`${key}.bias`, [dim], 'identity', { kind: 'zeros' }, seed + 1);
  }

  get parameters(): Parameter[] {
    return [this.weight, this.bias];
  }

  apply<T extends tf.Tensor>(x: T, hooks: Hooks, context: SiteContext): T {
    const normed = layerNorm(x, this.weight.variable as tf.Tensor1D, this.bias.variable as tf.Tensor1D, this.eps);
    return hooks.norm(this.site, normed, context);
  }
}

/** Keys and values of a block's attention, [B, heads, T, headDim] each. */
export interface KeysValues {
  readonly keys: tf.Tensor4D;
  readonly values: tf.Tensor4D;
}

export interface BlockOptions {
  readonly dim: number;
  readonly numHeads: number;
  readonly mlpHidden: number;
  readonly qkvBias: boolean;
  readonly eps: number;
  readonly dropPath: number;
  readonly seed: number;
  /** Allocate zero weights instead of random ones. */
  readonly zeros: boolean;
}

/**
 * A pre-norm transformer block, `x = x + Attn(LN1(x)); x = x + MLP(LN2(x))`, split into public
 * steps so a method (VQT) can run the query path on keys and values computed elsewhere.
 */
export class Block {
  readonly norm1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly norm2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dropPathRate: number;

  constructor(
    readonly index: number,
    private readonly hooks: Hooks,
    options: BlockOptions,
  ) {
    const prefix = `blocks.${index}`;
    const { dim, seed } = options;
    this.numHeads = options.numHeads;
    this.headDim = dim / options.numHeads;
    this.dropPathRate = options.dropPath;
    this.norm1 = new LayerNorm(`${prefix}.norm1`, 'norm1', dim, options.eps, seed);
    this.qkv = new Linear(`${prefix}.attn.qkv`, 'attn.qkv', dim, 3 * dim, { bias: options.qkvBias, seed: seed + 2, zeros: options.zeros });
    this.proj = new Linear(`${prefix}.attn.proj`, 'attn.proj', dim, dim, { bias: true, seed: seed + 4, zeros: options.zeros });
    this.norm2 = new LayerNorm(`${prefix}.norm2`, 'norm2', dim, options.eps, seed + 6);
    this.fc1 = new Linear(`${prefix}.mlp.fc1`, 'mlp.fc1', dim, options.mlpHidden, { bias: true, seed: seed + 8, zeros: options.zeros });
    this.fc2 = new Linear(`${prefix}.mlp.fc2`, 'mlp.fc2', options.mlpHidden, dim, { bias: true, seed: seed + 10, zeros: options.zeros });
  }

  get parameters(): Parameter[] {
    return [this.norm1, this.qkv, this.proj, this.norm2, this.fc1, this.fc2].flatMap((layer) => layer.parameters);
  }

  /** The block on the backbone's tokens [B, T, D]. */
  forward(x: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    return this.forwardWithQueries(x, null, context).tokens;
  }

  /**
   * The block on its tokens and, if given, on query tokens that attend to those tokens only (VQT).
   * The tokens' result does not depend on the queries in any way.
   */
  forwardWithQueries(
    x: tf.Tensor3D,
    queries: tf.Tensor3D | null,
    context: BlockContext,
  ): { tokens: tf.Tensor3D; queries: tf.Tensor3D | null; keysValues: KeysValues } {
    // Each step in its own tidy: its intermediates (qkv, the per-head split, the MLP's hidden
    // activations) are freed when it ends rather than when the block does; under a tape, what the
    // backward pass needs survives as the ops' saved copies.
    const { attended, keys, values } = tf.tidy(() => {
      const { queries: q, keys, values } = this.heads(this.norm1.apply(x, this.hooks, context), context);
      return { attended: this.attend(q, { keys, values }, context), keys, values };
    });
    const tokens = this.finish(x, attended, context);
    return { tokens, queries: queries === null ? null : this.forwardQueries(queries, { keys, values }, context), keysValues: { keys, values } };
  }

  /** Keys and values of the block's attention for tokens `x` [B, T, D] (block input, before norm1). */
  keysValues(x: tf.Tensor3D, context: BlockContext): KeysValues {
    const { keys, values } = this.heads(this.norm1.apply(x, this.hooks, context), context);
    return { keys, values };
  }

  /**
   * Query tokens [B, Tq, D] through the whole block, where inside attention only they query and the
   * keys and values are given: they attend to the block's tokens only, not to each other.
   */
  forwardQueries(queries: tf.Tensor3D, keysValues: KeysValues, context: BlockContext): tf.Tensor3D {
    const attended = tf.tidy(() => this.attend(this.heads(this.norm1.apply(queries, this.hooks, context), context).queries, keysValues, context));
    return this.finish(queries, attended, context);
  }

  /** Normed tokens [B, T, D] -> per-head queries, keys, values [B, H, T, dh]. */
  private heads(normed: tf.Tensor3D, context: BlockContext): { queries: tf.Tensor4D; keys: tf.Tensor4D; values: tf.Tensor4D } {
    const [batch, tokens] = normed.shape;
    const qkv = this.qkv.apply(normed, this.hooks, context);
    // [B, T, 3D] -> [B, T, 3H, dh] -> [B, 3H, T, dh]: one rank-4 transpose, then split into q, k, v.
    const perHead = tf.transpose(reshape(qkv, [batch, tokens, 3 * this.numHeads, this.headDim]), [0, 2, 1, 3]);
    const [queries, keys, values] = tf.split(perHead, 3, 1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    return { queries, keys, values };
  }

  /** softmax(q k^T / sqrt(dh) * scale) v, heads merged back to [B, Tq, D], then the output projection. */
  private attend(queries: tf.Tensor4D, { keys, values }: KeysValues, context: BlockContext): tf.Tensor3D {
    const [batch, , queryCount] = queries.shape;
    const extra = this.hooks.attentionScale(context);
    const base = 1 / Math.sqrt(this.headDim);
    const scale = extra === null ? base : typeof extra === 'number' ? extra * base : tf.mul(extra, base);
    const mixed = attention(queries, keys, values, scale);
    const merged = reshape<tf.Tensor3D>(tf.transpose(mixed, [0, 2, 1, 3]), [batch, queryCount, this.numHeads * this.headDim]);
    return this.proj.apply(merged, this.hooks, context);
  }

  /** The attention branch's output joins the stream; then the MLP branch. */
  private finish(x: tf.Tensor3D, attended: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    const stream = tf.tidy(() => {
      const attentionOut = this.hooks.branch('attn', { input: x, output: attended }, context);
      return this.hooks.residual('attn', residualAdd(x, this.dropPath(attentionOut, context, 0)), context);
    });
    const mlpOut = tf.tidy(() => {
      const hidden = gelu(this.fc1.apply(this.norm2.apply(stream, this.hooks, context), this.hooks, context));
      return this.hooks.branch('mlp', { input: stream, output: this.fc2.apply(hidden, this.hooks, context) }, context);
    });
    return tf.tidy(() => this.hooks.residual('mlp', residualAdd(stream, this.dropPath(mlpOut, context, 1)), context));
  }

  /** Each (block, branch) draws its own mask; `branchIndex` is 0 for attention, 1 for the MLP. */
  private dropPath(branch: tf.Tensor3D, context: BlockContext, branchIndex: 0 | 1): tf.Tensor3D {
    return dropPath(branch, this.dropPathRate, context, [DROP_PATH_SITE, this.index, branchIndex]);
  }
}

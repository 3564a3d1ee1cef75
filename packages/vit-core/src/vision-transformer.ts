import * as tf from '@tensorflow/tfjs-core';
import type { KeysValues } from './block';
import { Block, LayerNorm, Linear } from './block';
import type { VitConfig, VitConfigInput } from './config';
import { numPrefixTokens, patchGrid, resolveVitConfig } from './config';
import { ConfigError, ShapeError } from './errors';
import { registerGradients } from './gradients/register-gradients';
import type { BlockContext, TokenSlots, ForwardContext, ForwardState, SiteContext, VitExtension } from './extension';
import { Hooks } from './hooks';
import { recomputeSegment } from './lean-tape';
import { reshape } from './ops';
import type { Initializer, Parameter } from './parameter';
import { createParameter } from './parameter';
import { integer, oneOf, positiveNumber } from './validate';

export interface ForwardOptions {
  /** Training mode: drop path and the extensions' dropout are active. Default false. */
  readonly training?: boolean;
  /** Seed for this pass's random ops (drop path, prompt dropout); unseeded when absent. */
  readonly seed?: number;
  /**
   * Position of this pass's first image in the optimiser step's batch (0 unless the step is split
   * into micro-batches). Per-image random draws are keyed by (seed, site, imageOffset + i), so a
   * batch split into micro-batches draws what the whole batch draws. Default 0.
   */
  readonly imageOffset?: number;
  /**
   * Per-block activation checkpointing under a gradient tape: each block keeps only its input and
   * is recomputed, with the same random draws, in the backward pass. Default false.
   */
  readonly recompute?: boolean;
  /**
   * Scratch shared by the extensions during one pass. Pass the same map to `forwardFeatures` and
   * `forwardHead` when calling them separately; `forward` makes its own.
   */
  readonly state?: ForwardState;
}

export interface VitOptions {
  /** Seed of the random initialisation. Default 0. */
  readonly seed?: number;
  /** 'random' (default): timm's initialisation; 'zeros': zero weights, for a checkpoint to overwrite. */
  readonly weights?: 'random' | 'zeros';
}

export interface IntermediatesOptions extends ForwardOptions {
  /** Blocks to return, 0-based; negative counts from the end (-1 is the last block). */
  readonly indices: readonly number[];
  /** Apply the final norm to each intermediate (timm's `norm=True`). Default false. */
  readonly norm?: boolean;
  /**
   * 'grid': the patch tokens (the last N) as [B, D, rows, columns], what segmentation heads read;
   * 'tokens': the whole sequence [B, T, D]. Default 'grid'.
   */
  readonly format?: 'grid' | 'tokens';
}

/**
 * How a classifier head is initialised: 'timm' truncated normal (std 0.02 unless `HeadOptions.std`)
 * and zero bias; 'vpt' the VPT/GatedPT/VQT head, kaiming-normal weights (fan_out) and bias
 * -log((1 - 0.01) / 0.01), so every class starts at probability about 0.01; 'torch' PyTorch's
 * `nn.Linear` default, weight and bias uniform in +-1/sqrt(D) (what timm's `reset_classifier` leaves,
 * as SCT's code uses it); 'zeros' everything zero.
 */
export type HeadInit = 'timm' | 'vpt' | 'torch' | 'zeros';

export interface HeadOptions {
  readonly init?: HeadInit;
  /** Standard deviation of the 'timm' init's truncated normal. Default 0.02 (SPT's MoCo v3 script uses 0.01). */
  readonly std?: number;
  readonly seed?: number;
}

const PRIOR_PROBABILITY = 0.01;

function headInitializers(options: HeadOptions, numClasses: number, inFeatures: number): { weight: Initializer; bias: Initializer } {
  const init = oneOf('init', options.init ?? 'timm', ['timm', 'vpt', 'torch', 'zeros'] as const);
  if (options.std !== undefined && init !== 'timm') throw new ConfigError('std', options.std, "applies to the 'timm' head init only");
  switch (init) {
    case 'timm':
      return { weight: { kind: 'trunc-normal', std: positiveNumber('std', options.std ?? 0.02) }, bias: { kind: 'zeros' } };
    case 'vpt':
      // kaiming_normal_(mode='fan_out') on a [classes, D] weight: fan_out = classes, gain sqrt(2).
      return {
        weight: { kind: 'normal', std: Math.sqrt(2 / numClasses) },
        bias: { kind: 'constant', value: -Math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY) },
      };
    case 'torch': {
      // kaiming_uniform_(a=sqrt(5)) gives bound sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(fan_in); the bias uses the same bound.
      const limit = 1 / Math.sqrt(inFeatures);
      return { weight: { kind: 'uniform', limit }, bias: { kind: 'uniform', limit } };
    }
    case 'zeros':
      return { weight: { kind: 'zeros' }, bias: { kind: 'zeros' } };
  }
}

/**
 * A Vision Transformer (Dosovitskiy et al. 2021) with timm's parameter names, computed in explicit
 * stages (embed -> blocks -> pool -> head). Tuning methods attach as extensions and change the
 * computation at named points (see `VitExtension`); they never edit or subclass the backbone.
 */
export class VisionTransformer {
  readonly config: VitConfig;
  readonly patchEmbed: Linear;
  readonly clsToken: Parameter | null;
  readonly posEmbed: Parameter;
  readonly blocks: readonly Block[];
  /** LayerNorm on every token after the last block (absent when `fcNorm`). */
  readonly norm: LayerNorm | null;
  /** LayerNorm after pooling (present when `fcNorm`). */
  readonly fcNorm: LayerNorm | null;
  private classifierHead: Linear | null;
  private readonly hooks: Hooks;
  private disposed = false;

  /**
   * A model with freshly initialised weights (timm's scheme, seeded), or zeros with
   * `weights: 'zeros'` when a checkpoint will overwrite them anyway (ViT-B's random draw takes seconds).
   * Registers tfjs-core's gradients where none is registered yet (`registerGradients`), so the
   * model trains with the Trainer or tfjs's own optimisers on tfjs-core alone.
   */
  constructor(config: VitConfigInput | VitConfig, options: VitOptions = {}) {
    this.config = resolveVitConfig(config);
    registerGradients();
    this.hooks = new Hooks(numPrefixTokens(this.config));
    const { embedDim: dim, patchSize, inChans, depth } = this.config;
    const seed = options.seed ?? 0;
    const zeros = oneOf('weights', options.weights ?? 'random', ['random', 'zeros'] as const) === 'zeros';
    const [rows, columns] = patchGrid(this.config);
    this.patchEmbed = new Linear('patch_embed.proj', 'patch_embed.proj', inChans * patchSize * patchSize, dim, {
      bias: true,
      seed,
      weightLayout: { shape: [dim, inChans, patchSize, patchSize], layout: 'patch-embed' },
      zeros,
    });
    this.clsToken = this.config.classToken
      ? createParameter('cls_token', [1, 1, dim], 'identity', zeros ? { kind: 'zeros' } : { kind: 'normal', std: 1e-6 }, seed + 2)
      : null;
    const tokens = numPrefixTokens(this.config) + rows * columns;
    const posInit: Initializer = zeros ? { kind: 'zeros' } : { kind: 'trunc-normal', std: 0.02 };
    this.posEmbed = createParameter('pos_embed', [1, tokens, dim], 'identity', posInit, seed + 3);
    this.blocks = Array.from(
      { length: depth },
      (_, index) =>
        new Block(index, this.hooks, {
          dim,
          numHeads: this.config.numHeads,
          mlpHidden: dim * this.config.mlpRatio,
          qkvBias: this.config.qkvBias,
          eps: this.config.layerNormEps,
          dropPath: depth === 1 ? 0 : (this.config.dropPathRate * index) / (depth - 1),
          seed: seed + 100 * (index + 1),
          zeros,
        }),
    );
    const normSeed = seed + 100 * (depth + 1);
    this.norm = this.config.fcNorm ? null : new LayerNorm('norm', 'norm', dim, this.config.layerNormEps, normSeed);
    this.fcNorm = this.config.fcNorm ? new LayerNorm('fc_norm', 'fc_norm', dim, this.config.layerNormEps, normSeed) : null;
    this.classifierHead = this.makeHead(this.config.numClasses, { init: zeros ? 'zeros' : 'timm', seed: normSeed + 2 });
  }

  /** The classifier (timm `head`), or null with numClasses 0. */
  get head(): Linear | null {
    return this.classifierHead;
  }

  /** Number of classes of the current head (0: none). */
  get numClasses(): number {
    return this.classifierHead?.weight.timmShape[0] ?? 0;
  }

  /** Every weight in timm's order, keyed by timm's names. */
  get parameters(): Parameter[] {
    return [
      ...(this.clsToken === null ? [] : [this.clsToken]),
      this.posEmbed,
      ...this.patchEmbed.parameters,
      ...this.blocks.flatMap((block) => block.parameters),
      ...(this.norm?.parameters ?? []),
      ...(this.fcNorm?.parameters ?? []),
      ...(this.classifierHead?.parameters ?? []),
    ];
  }

  /** The weight with timm key `key`. */
  parameter(key: string): Parameter {
    const found = this.parameters.find((parameter) => parameter.key === key);
    if (found === undefined) throw new ConfigError('key', key, 'is not a parameter of this model');
    return found;
  }

  /** Every attached extension, in attach order, switched off or not. */
  get extensions(): readonly VitExtension[] {
    return this.hooks.extensions;
  }

  /** The attached extensions the forward pass runs now (not switched off by `disableExtensions`). */
  get activeExtensions(): readonly VitExtension[] {
    return this.hooks.active;
  }

  /**
   * Runs `run` with `extensions` (default: every attached one) switched off, as peft's
   * `disable_adapter()`: the backbone computes as if they were detached, attach order is kept, and
   * calls nest. An async `run` keeps them off until its promise settles. Data-dependent
   * initialisations (Self-Prompt Tuning, SCT's channel scores) and VQT's frozen pass use it.
   */
  disableExtensions<T>(run: () => T, extensions: readonly VitExtension[] = this.hooks.extensions): T {
    return this.hooks.disable(extensions, run);
  }

  /** Where `extension`'s inserted tokens sit now (see `VitExtension.insertedTokens`). */
  tokenSlots(extension: VitExtension): TokenSlots {
    return this.hooks.slots(extension);
  }

  /** Adds a tuning method's hooks; several compose, called in attach order. */
  attach(extension: VitExtension): void {
    this.hooks.attach(extension);
  }

  /** Removes a method's hooks; with none left the model computes the pretrained function exactly. */
  detach(extension: VitExtension): void {
    this.hooks.detach(extension);
  }

  /** Replaces the classifier with a fresh one (for a new task); the old one is disposed. */
  resetHead(numClasses: number, options: HeadOptions = {}): void {
    integer('numClasses', numClasses, 0);
    const trainable = this.classifierHead?.weight.variable.trainable ?? false;
    // Built before the old head is freed: bad options leave the model as it was.
    const head = this.makeHead(numClasses, options);
    this.classifierHead?.parameters.forEach((parameter) => parameter.variable.dispose());
    this.classifierHead = head;
    this.classifierHead?.parameters.forEach((parameter) => (parameter.variable.trainable = trainable));
  }

  /** Patch tokens [B, N, D] of NCHW images: no CLS, no position embedding (what SPT clusters). */
  embedPatches(images: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor3D {
    this.checkImages(images);
    return tf.tidy(() => this.patchTokens(images, this.context(options)));
  }

  /** [CLS, patches] with the position embedding added: the sequence entering block 0 (before any prompt). */
  embed(images: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor3D {
    this.checkImages(images);
    return tf.tidy(() => this.embedTokens(images, this.context(options)));
  }

  /** Tokens after every block and the final norm, [B, T, D] (T counts CLS, prompts and patches). */
  forwardFeatures(images: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor3D {
    this.checkImages(images);
    return tf.tidy(() => {
      const context = this.context(options);
      return this.finalNorm(this.runBlocks(this.embedTokens(images, context), context, null), context);
    });
  }

  /**
   * The forward pass up to the final features, also returning every block's attention keys and
   * values (computed from the block's input after all `enterBlock` hooks). Query-tuning methods run
   * this outside the gradient tape and only their query path inside it.
   */
  forwardKeysValues(images: tf.Tensor4D, options: ForwardOptions = {}): { features: tf.Tensor3D; keysValues: KeysValues[] } {
    this.checkImages(images);
    type Result = { features: tf.Tensor3D; keysValues: KeysValues[] };
    // tidy keeps every tensor nested in the returned object; only its type signature is narrower.
    return tf.tidy((): tf.TensorContainer => {
      const context = this.context(options);
      const keysValues: KeysValues[] = [];
      const last = this.runBlocks(this.embedTokens(images, context), context, (index, _tokens, blockKeysValues) => {
        keysValues[index] = blockKeysValues;
      });
      return { features: this.finalNorm(last, context), keysValues } satisfies Result as unknown as tf.TensorContainer;
    }) as unknown as Result;
  }

  /** The head's input before any extension: CLS or the mean of the non-CLS tokens, then fc_norm. [B, D]. */
  pool(tokens: tf.Tensor3D, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.pooled(tokens, this.context(options)));
  }

  /** Pool, fc_norm and classify the output of `forwardFeatures`: logits [B, classes] (or features with no head). */
  forwardHead(tokens: tf.Tensor3D, options: ForwardOptions = {}): tf.Tensor2D {
    return tf.tidy(() => this.headLogits(tokens, this.context(options)));
  }

  /** Images [B, C, H, W], normalised float32 -> logits [B, classes]. */
  forward(images: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor2D {
    this.checkImages(images);
    return tf.tidy(() => {
      const context = this.context(options);
      const tokens = this.finalNorm(this.runBlocks(this.embedTokens(images, context), context, null), context);
      return this.headLogits(tokens, context);
    });
  }

  /** The outputs of chosen blocks (as patch grids or token sequences) and the final features. */
  forwardIntermediates(images: tf.Tensor4D, options: IntermediatesOptions): { features: tf.Tensor3D; intermediates: tf.Tensor[] } {
    this.checkImages(images);
    const depth = this.config.depth;
    const indices = options.indices.map((index) => {
      const resolved = index < 0 ? depth + index : index;
      if (!Number.isInteger(index) || resolved < 0 || resolved >= depth) {
        throw new ConfigError('indices', options.indices, `must hold block indices in [-${depth}, ${depth - 1}]`);
      }
      return resolved;
    });
    return tf.tidy(() => {
      const context = this.context(options);
      const collected = new Map<number, tf.Tensor3D>();
      const last = this.runBlocks(this.embedTokens(images, context), context, (index, tokens, keysValues) => {
        // Keys and values are not asked for here: free them now rather than at the end of the pass.
        tf.dispose([keysValues.keys, keysValues.values]);
        if (indices.includes(index)) collected.set(index, tokens);
      });
      const intermediates = indices.map((index) => {
        let tokens = collected.get(index)!;
        if (options.norm === true) tokens = this.finalNorm(tokens, context);
        return options.format === 'tokens' ? tokens : this.toGrid(tokens);
      });
      return { features: this.finalNorm(last, context), intermediates };
    });
  }

  /** Frees every weight. The model is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.parameters.forEach((parameter) => parameter.variable.dispose());
  }

  private makeHead(numClasses: number, options: HeadOptions): Linear | null {
    if (numClasses === 0) return null;
    const init = headInitializers(options, numClasses, this.config.embedDim);
    return new Linear('head', 'head', this.config.embedDim, numClasses, {
      bias: true,
      seed: options.seed ?? 0,
      weightInit: init.weight,
      biasInit: init.bias,
    });
  }

  private context(options: ForwardOptions): ForwardContext {
    if (this.disposed) throw new ConfigError('model', 'disposed', 'must not be used after dispose()');
    return {
      training: options.training ?? false,
      seed: options.seed,
      imageOffset: integer('imageOffset', options.imageOffset ?? 0, 0),
      recompute: options.recompute ?? false,
      state: options.state ?? new Map(),
    };
  }

  private siteContext(context: ForwardContext, blockIndex: number | null): SiteContext {
    return { ...context, blockIndex, depth: this.config.depth };
  }

  private checkImages(images: tf.Tensor4D): void {
    const { inChans, imgSize } = this.config;
    const [, channels, height, width] = images.shape;
    if (images.rank !== 4 || channels !== inChans || height !== imgSize[0] || width !== imgSize[1]) {
      throw new ShapeError(
        `images must be float32 [batch, ${inChans}, ${imgSize[0]}, ${imgSize[1]}] (NCHW), got [${images.shape.join(', ')}]`,
      );
    }
    if (images.dtype !== 'float32') throw new ShapeError(`images must be float32, got ${images.dtype}`);
  }

  /**
   * Non-overlapping p x p patches as rows [B*N, C*p*p] times the projection: the convolution of
   * timm's patch_embed as one plain matrix product. Two rank-4 transposes reorder
   * [B, C, rows, p, columns, p] into [B, rows*columns, C, p*p] (raster order, like conv + flatten).
   */
  private patchTokens(images: tf.Tensor4D, context: ForwardContext): tf.Tensor3D {
    const { patchSize: p, inChans: channels, embedDim } = this.config;
    const batch = images.shape[0];
    const [rows, columns] = patchGrid(this.config);
    const withinRows = tf.transpose(reshape(images, [batch * channels * rows, p, columns, p]), [0, 2, 1, 3]);
    const patches = tf.transpose(reshape(withinRows, [batch, channels, rows * columns, p * p]), [0, 2, 1, 3]);
    const flat = reshape<tf.Tensor2D>(patches, [batch * rows * columns, channels * p * p]);
    return reshape(this.patchEmbed.apply(flat, this.hooks, this.siteContext(context, null)), [batch, rows * columns, embedDim]);
  }

  private embedTokens(images: tf.Tensor4D, context: ForwardContext): tf.Tensor3D {
    const patches = this.patchTokens(images, context);
    const batch = images.shape[0];
    const dim = this.config.embedDim;
    const sequence =
      this.clsToken === null
        ? patches
        : tf.concat([tf.broadcastTo(this.clsToken.variable, [batch, 1, dim]) as tf.Tensor3D, patches], 1);
    return tf.add(sequence, this.posEmbed.variable) as tf.Tensor3D;
  }

  /**
   * Runs the blocks with every extension's hooks; `observe` sees each block's final output. Each block
   * runs in its own tidy scope, so its intermediates (attention maps, MLP activations) are freed when
   * it ends instead of when the whole pass ends: inference holds one block's activations at a time,
   * and under a gradient tape only what the backward pass saved survives. Only the block's output,
   * its keys and values and its query outputs leave the scope.
   */
  private runBlocks(
    tokens: tf.Tensor3D,
    context: ForwardContext,
    observe: ((index: number, tokens: tf.Tensor3D, keysValues: KeysValues) => void) | null,
  ): tf.Tensor3D {
    const batch = tokens.shape[0];
    if (context.recompute && context.training && context.seed === undefined) {
      throw new ConfigError('recompute', true, 'needs a seed in training mode: the backward pass draws drop path and dropout again from it');
    }
    for (const block of this.blocks) {
      const blockContext: BlockContext = { ...context, blockIndex: block.index, depth: this.config.depth };
      let counts: number[] = [];
      const previous = tokens;
      const run = (blockInput: tf.Tensor) => {
        const input = this.hooks.enterBlock(blockInput as tf.Tensor3D, blockContext);
        const queries = this.hooks.queryTokens(batch, blockContext);
        counts = queries?.counts ?? [];
        const out = block.forwardWithQueries(input, queries?.tokens ?? null, blockContext);
        const output = this.hooks.exitBlock(input, out.tokens, blockContext);
        return { output, keys: out.keysValues.keys, values: out.keysValues.values, ...(out.queries === null ? {} : { queries: out.queries }) };
      };
      // Recomputed, the block leaves only its input (and what it reads) on the tape.
      const result = context.recompute ? recomputeSegment(`block ${block.index}`, previous, run) : tf.tidy(() => run(previous));
      if (result.queries !== undefined) this.hooks.queryOutputs(result.queries as tf.Tensor3D, counts, blockContext);
      tokens = result.output as tf.Tensor3D;
      const keysValues = { keys: result.keys as tf.Tensor4D, values: result.values as tf.Tensor4D };
      if (observe !== null) observe(block.index, tokens, keysValues);
      else tf.dispose([keysValues.keys, keysValues.values, ...(previous === tokens ? [] : [previous])]);
    }
    return tokens;
  }


  private finalNorm(tokens: tf.Tensor3D, context: ForwardContext): tf.Tensor3D {
    return this.norm === null ? tokens : this.norm.apply(tokens, this.hooks, this.siteContext(context, null));
  }

  private pooled(tokens: tf.Tensor3D, context: ForwardContext): tf.Tensor2D {
    const prefix = numPrefixTokens(this.config);
    const pooled: tf.Tensor2D =
      this.config.globalPool === 'token'
        ? (tf.squeeze(tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), [1]) as tf.Tensor2D)
        : tf.mean(tf.slice(tokens, [0, prefix, 0], [-1, -1, -1]), 1);
    return this.fcNorm === null ? pooled : this.fcNorm.apply(pooled, this.hooks, this.siteContext(context, null));
  }

  private headLogits(tokens: tf.Tensor3D, context: ForwardContext): tf.Tensor2D {
    const features = this.hooks.headInput(this.pooled(tokens, context), context);
    const classify = this.hooks.classifier();
    if (classify !== undefined) return classify(features, context);
    return this.classifierHead === null ? features : this.classifierHead.apply(features, this.hooks, this.siteContext(context, null));
  }

  /** The last N tokens (the patches, wherever prompts were inserted) as [B, D, rows, columns]. */
  private toGrid(tokens: tf.Tensor3D): tf.Tensor4D {
    const [rows, columns] = patchGrid(this.config);
    const [batch, count, dim] = tokens.shape;
    const patches = tf.slice(tokens, [0, count - rows * columns, 0], [-1, -1, -1]);
    return tf.transpose(reshape<tf.Tensor4D>(patches, [batch, rows, columns, dim]), [0, 3, 1, 2]);
  }
}

import type * as tf from '@tensorflow/tfjs-core';
import type { BatchSource } from './batch';
import type { TrainablePolicy } from './trainable';
import type { VisionTransformer } from './vision-transformer';

/**
 * Where a linear projection sits. Hooks see its 2-D input [tokens, in] and output [tokens, out]:
 * LoRA adds a low-rank update to `attn.qkv`, SSF scales and shifts every output.
 */
export type LinearSite = 'patch_embed.proj' | 'attn.qkv' | 'attn.proj' | 'mlp.fc1' | 'mlp.fc2' | 'head';

/** Which LayerNorm: the two in each block, the final one on all tokens, or the one after pooling. */
export type NormSite = 'norm1' | 'norm2' | 'norm' | 'fc_norm';

/** A block's two residual branches. */
export type BranchSite = 'attn' | 'mlp';

/** Scratch space that lives for one forward pass, shared by the extensions of that pass. */
export type ForwardState = Map<unknown, unknown>;

/** What every hook is told about the pass it runs in. */
export interface ForwardContext {
  /** True in a training step: dropout, drop path and prompt dropout are on. */
  readonly training: boolean;
  /**
   * Per-pass scratch (e.g. VQT keeps its query outputs here until the head asks for them). Each step
   * of a block (attention, its residual, the MLP) runs in its own tidy scope: a tensor a block hook
   * stores here is freed when that step ends unless the hook `tf.keep`s it (and then frees it),
   * except the outputs handed to `queryOutputs`, which live until the pass ends.
   */
  readonly state: ForwardState;
  /** Seed for the pass's random ops, or undefined for unseeded randomness. */
  readonly seed: number | undefined;
  /**
   * Position of the pass's first image in the optimiser step's batch (0 unless the step is split
   * into micro-batches): a per-image random draw for image i is keyed by `imageOffset + i`.
   */
  readonly imageOffset: number;
  /** Blocks are recomputed in the backward pass (per-block activation checkpointing). */
  readonly recompute: boolean;
}

/** A hook inside block `blockIndex` (0-based) of `depth`. Null for the patch embedding and final norm. */
export interface SiteContext extends ForwardContext {
  readonly blockIndex: number | null;
  readonly depth: number;
}

export interface BlockContext extends SiteContext {
  readonly blockIndex: number;
}

/** The two inputs of a residual branch and what it computed. */
export interface BranchTensors {
  /** The residual stream entering the branch (before its LayerNorm), [B, T, D]. */
  readonly input: tf.Tensor3D;
  /** The branch's output, [B, T, D], before it is added to the stream. */
  readonly output: tf.Tensor3D;
}

/**
 * The points where a tuning method changes the backbone's computation. A method implements any
 * subset; the backbone calls every attached extension in attach order and uses what it returns.
 * No hook edits the backbone's weights, and with no extension attached the backbone computes the
 * pretrained model exactly. Token order is always [CLS, prompts..., patches...]: the patches are
 * the last N tokens, whatever a method inserts in front of them.
 */
export interface VitExtension {
  /** Unique, kebab-case: 'vpt-deep', 'gated-prompt', 'lora'. */
  readonly name: string;

  /** Before block i: insert tokens (shallow prompts at i = 0) or replace them (deep prompts). */
  enterBlock?(tokens: tf.Tensor3D, context: BlockContext): tf.Tensor3D;
  /** After block i, seeing its input and output: gated prompts mix the prompt slots of the two. */
  exitBlock?(blockInput: tf.Tensor3D, blockOutput: tf.Tensor3D, context: BlockContext): tf.Tensor3D;

  /**
   * Multiplier of block i's attention logits q k^T / sqrt(d_head), for every query row. Gated
   * prompt tuning's learnable temperature returns 1 / tau_i.
   */
  attentionScale?(context: BlockContext): tf.Scalar | number | undefined;

  /** Output of a linear projection, [tokens, out], given its input [tokens, in]. */
  linearOutput?(site: LinearSite, input: tf.Tensor2D, output: tf.Tensor2D, context: SiteContext): tf.Tensor2D;
  /** Output of a LayerNorm (SSF scales and shifts it). */
  normOutput?(site: NormSite, output: tf.Tensor, context: SiteContext): tf.Tensor;
  /** A residual branch's output before it joins the stream: adapters (sequential or parallel). */
  branchOutput?(site: BranchSite, branch: BranchTensors, context: BlockContext): tf.Tensor3D;
  /**
   * The residual stream right after a branch was added: 'attn' is the input of norm2, 'mlp' the
   * block's output. Salient channel tuning edits chosen channels here.
   */
  residual?(site: BranchSite, stream: tf.Tensor3D, context: BlockContext): tf.Tensor3D;

  /**
   * Query tokens [B, Tq, D] for block i that pass through the whole block while, inside attention,
   * only they query and keys and values come from the block's own tokens (VQT). The backbone's
   * tokens are left exactly as without them.
   */
  queryTokens?(batchSize: number, context: BlockContext): tf.Tensor3D | undefined;
  /** Receives block i's query outputs, after the full block (no extra LayerNorm). */
  queryOutputs?(outputs: tf.Tensor3D, context: BlockContext): void;

  /** The pooled (and fc-normed) features [B, D] on their way to the classifier; VQT concatenates. */
  headInput?(pooled: tf.Tensor2D, context: ForwardContext): tf.Tensor2D;
  /** Replaces the backbone's own head (a method with a head of another width, like VQT's). */
  classify?(features: tf.Tensor2D, context: ForwardContext): tf.Tensor2D;
}

/**
 * The contract of a tuning method: hooks plus what training, saving and counting need. A method is
 * a plain object the backbone consults; attaching and detaching it never touches backbone weights.
 */
export interface TuningMethod extends VitExtension {
  /** The validated config, JSON-serialisable, enough to rebuild the method before loading weights. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The variables an optimiser should update. */
  trainableVariables(): tf.Variable[];
  /** Parameters the method adds to the backbone (its own classifier excluded). */
  numParameters(): number;
  /** Copies of the method's tensors by name (the caller disposes them), for saving apart from the backbone. */
  weights(): Map<string, tf.Tensor>;
  /** Restores tensors saved by `weights()`; names and shapes must match. */
  loadWeights(weights: ReadonlyMap<string, tf.Tensor>): void;
  /**
   * Data-dependent initialisation, run once on the training split before training: Salient Channel
   * Tuning picks its channels here, Self-Prompt Tuning its prompts. A method that has it may refuse
   * to run forward until it has been prepared (or its weights loaded).
   */
  prepare?(source: BatchSource): Promise<void>;
  /** Frees every tensor the method owns. */
  dispose(): void;
}

/**
 * A method by name, as the benchmark app and saved runs refer to it: `create` builds it from plain
 * options (`--set key=value` on the command line, or a saved method's `config`), validating every
 * field once. Each method package exports its definitions; nothing else needs to know its options.
 */
export interface MethodDefinition {
  /** kebab-case: 'vpt-deep', 'gated-prompt', 'lora'. */
  readonly name: string;
  /** One line for `--help` and reports. */
  readonly description: string;
  /** Backbone weights that train alongside the method (usually 'linear': the head). */
  readonly policy: TrainablePolicy;
  /** Builds the method for a model, not attached. Unknown or invalid options throw `ConfigError`. */
  create(model: VisionTransformer, options: Readonly<Record<string, unknown>>): TuningMethod;
}

import type * as tf from '@tensorflow/tfjs-core';
import type { OfficialNames } from './checkpoint/official-names';
import type { BatchSource } from './batch';
import type { Diagnostic, DiagnosticProbe } from './diagnostics';
import type { TrainingForward } from './training-forward';
import type { TrainablePolicy } from './trainable';
import type { VisionTransformer } from './vision-transformer';
import type { VitConfig } from './config';

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

/** Where an extension's inserted tokens sit in the sequence: positions start .. start + count - 1. */
export interface TokenSlots {
  readonly start: number;
  readonly count: number;
}

/** What `enterBlock` and `exitBlock` are told: the block, and the calling extension's own token slots. */
export interface SlotContext extends BlockContext {
  /**
   * The slots the backbone gives this extension: after the prefix (CLS) and the slots of the
   * switched-on extensions attached before it. Insert or replace tokens only there.
   */
  readonly slots: TokenSlots;
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

  /**
   * Tokens the extension inserts (at block 0's entry, or before the first block it prompts) and
   * keeps through the blocks: VPT's prompts. The backbone assigns them slots (`SlotContext.slots`),
   * so several prompt methods compose without shifting each other's tokens. Default 0.
   */
  readonly insertedTokens?: number;

  /**
   * Before block i: insert `context.slots.count` tokens at `context.slots.start` (shallow prompts at
   * i = 0) or replace the tokens there (deep prompts).
   */
  enterBlock?(tokens: tf.Tensor3D, context: SlotContext): tf.Tensor3D;
  /** After block i, seeing its input and output: gated prompts mix their slots of the two. */
  exitBlock?(blockInput: tf.Tensor3D, blockOutput: tf.Tensor3D, context: SlotContext): tf.Tensor3D;

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

  /**
   * How a training step computes logits when it is not the model's plain forward pass: VQT runs
   * the frozen backbone off the gradient tape and records only its query path. At most one attached
   * extension has it; trainers use it in place of the model's forward (training's `modelForward`).
   */
  trainingForward?(): TrainingForward;
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
   * Throws what `loadWeights` would throw for `weights`, writing nothing (`MethodBase` has it), so
   * loaders check every method before they write any. Without it, `loadWeights`'s own check is all.
   */
  checkWeights?(weights: ReadonlyMap<string, tf.Tensor>): void;
  /**
   * Data-dependent initialisation, run once on the training split before training: Salient Channel
   * Tuning picks its channels here, Self-Prompt Tuning its prompts. A method that has it may refuse
   * to run forward until it has been prepared (or its weights loaded).
   */
  prepare?(source: BatchSource): Promise<void>;
  /**
   * What the method can tell about itself after an epoch (gate selection ratios, attention
   * temperatures, prompt-patch NMI, query importance, salient channels), as typed records that a
   * trainer collects per epoch and a report plots by kind. Must not change the method.
   */
  diagnostics?(probe: DiagnosticProbe): Diagnostic[] | Promise<Diagnostic[]>;
  /** Frees every tensor the method owns. */
  dispose(): void;
}

/** A variable a method declares: its shape as held, and whether it is the method's own classifier (`VariableOptions.classifier`). */
export interface DeclaredVariable {
  readonly shape: readonly number[];
  /** Trains, but `numParameters` leaves it out (VQT's head), as the papers count a method's parameters. Default false. */
  readonly classifier?: boolean;
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
  /**
   * False when training the method never back-propagates through the backbone's blocks (VQT: its
   * frozen pass runs before the gradient tape opens), so recomputing them (`ForwardOptions.recompute`)
   * would change nothing. Default true.
   */
  readonly trainsThroughBlocks?: boolean;
  /** Builds the method for a model, not attached. Unknown or invalid options throw `ConfigError`. */
  create(model: VisionTransformer, options: Readonly<Record<string, unknown>>): TuningMethod;
  /**
   * The variables `create` builds for a backbone of this config with these options, by name, with
   * their shapes as the method holds them, computed without building any tensor (what `params` and
   * `declaredVariables` count). Options are validated as `create` validates them. The
   * method-testing contract checks it against the built method's `trainableVariables()`.
   */
  variableShapes(config: VitConfig, options: Readonly<Record<string, unknown>>): ReadonlyMap<string, DeclaredVariable>;
  /** How its tensors are named in the method's official code (`toOfficialNames` / `fromOfficialNames`), where that is mapped. */
  readonly officialNames?: OfficialNames;
}

import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, ForwardOptions, TokenSlots, VisionTransformer, VitExtension } from '@visual-peft/vit-core';
import { ConfigError, ShapeError, integer, knownOptions, numPrefixTokens, oneOf, patchGrid, positiveNumber } from '@visual-peft/vit-core';

/**
 * How mutual information is normalised: 'min' divides by min(H(P), H(E)) (Estevez et al. 2009, what
 * the SPT paper cites); 'geometric' by sqrt(H(P) H(E)).
 */
export type NmiNormalization = 'min' | 'geometric';

export interface PromptNmiOptions {
  /** Default 'min'. */
  readonly normalization?: NmiNormalization;
  /** Multiplier of the prompt-patch dot products (the attention logit scale). Default 1 / sqrt(D). */
  readonly scale?: number;
}

export interface PromptNmi {
  /** Mean over the batch's images. */
  readonly mean: number;
  /** One value per image. */
  readonly perImage: Float64Array;
}

function entropy(distribution: Float64Array): number {
  let sum = 0;
  for (const p of distribution) if (p > 0) sum -= p * Math.log(p);
  return sum;
}

/**
 * Normalised mutual information of a joint distribution over prompts x patches ([P, N] row-major,
 * summing to 1): I(P; E) over min(H(P), H(E)) or their geometric mean. 0 when a marginal is a
 * single point (no information to share).
 */
export function normalizedMutualInformation(joint: Float64Array, numPrompts: number, numPatches: number, normalization: NmiNormalization = 'min'): number {
  const promptMarginal = new Float64Array(numPrompts);
  const patchMarginal = new Float64Array(numPatches);
  for (let k = 0; k < numPrompts; k++) {
    for (let j = 0; j < numPatches; j++) {
      promptMarginal[k]! += joint[k * numPatches + j]!;
      patchMarginal[j]! += joint[k * numPatches + j]!;
    }
  }
  let information = 0;
  for (let k = 0; k < numPrompts; k++) {
    for (let j = 0; j < numPatches; j++) {
      const p = joint[k * numPatches + j]!;
      if (p > 0) information += p * Math.log(p / (promptMarginal[k]! * patchMarginal[j]!));
    }
  }
  const hPrompts = entropy(promptMarginal);
  const hPatches = entropy(patchMarginal);
  const denominator = normalization === 'min' ? Math.min(hPrompts, hPatches) : Math.sqrt(hPrompts * hPatches);
  return denominator === 0 ? 0 : Math.max(0, information) / denominator;
}

/**
 * The SPT paper's diagnostic (its Figure 2): per image, the joint pi(p_k, e_j) = sigmoid(scale *
 * p_k · e_j) normalised to sum 1 over the prompts [P, D] (or [B, P, D]) and that image's patch
 * tokens [B, N, D]; then the normalised mutual information. The logits run on the active backend,
 * the information sums in float64.
 */
export function promptPatchNmi(prompts: tf.Tensor2D | tf.Tensor3D, patches: tf.Tensor3D, options: PromptNmiOptions = {}): PromptNmi {
  knownOptions('promptPatchNmi', options, ['normalization', 'scale']);
  const normalization = oneOf('normalization', options.normalization ?? 'min', ['min', 'geometric'] as const);
  const [batch, numPatches, dim] = patches.shape;
  const numPrompts = prompts.shape[prompts.rank - 2]!;
  if (prompts.shape[prompts.rank - 1] !== dim || (prompts.rank === 3 && prompts.shape[0] !== batch)) {
    throw new ShapeError(`prompts must be [P, ${dim}] or [${batch}, P, ${dim}] for patches [${patches.shape.join(', ')}], got [${prompts.shape.join(', ')}]`);
  }
  const scale = positiveNumber('scale', options.scale ?? 1 / Math.sqrt(dim));
  const affinities = tf.tidy(() => {
    const perImage = prompts.rank === 2 ? tf.broadcastTo(prompts, [batch, numPrompts, dim]) : prompts;
    return tf.sigmoid(tf.mul(tf.matMul(perImage, patches, false, true), scale)).dataSync() as Float32Array;
  });
  const perImage = new Float64Array(batch);
  const size = numPrompts * numPatches;
  for (let image = 0; image < batch; image++) {
    const joint = Float64Array.from(affinities.subarray(image * size, (image + 1) * size));
    const total = joint.reduce((sum, value) => sum + value, 0);
    for (let i = 0; i < size; i++) joint[i]! /= total;
    perImage[image] = normalizedMutualInformation(joint, numPrompts, numPatches, normalization);
  }
  return { mean: perImage.reduce((sum, value) => sum + value, 0) / batch, perImage };
}

export interface BlockNmiOptions extends PromptNmiOptions {
  /**
   * The prompt method whose tokens are compared (attached to the model and switched on): its slots
   * come from `model.tokenSlots(method)`, so it may be composed with other prompt methods.
   */
  readonly method?: VitExtension;
  /**
   * Prompt tokens right after the prefix (CLS), when no `method` is given.
   * @deprecated Pass `method` instead; this assumes the only prompts sit right after CLS. Removed in the next minor release.
   */
  readonly numPrompts?: number;
  /** The block whose input holds the prompts and patches compared, 0-based. Default 0 (the embedding). */
  readonly block?: number;
}

export interface PerBlockNmiOptions extends PromptNmiOptions {
  /** The prompt method whose tokens are compared (attached to the model and switched on). */
  readonly method: VitExtension;
  /** The first block (0-based) measured: the one the method's prompts enter. Default 0. */
  readonly firstBlock?: number;
}

/** Where the measured prompts sit: the method's slots, or (deprecated) `numPrompts` right after CLS. */
function measuredSlots(model: VisionTransformer, method: VitExtension | undefined, numPrompts: number | undefined): TokenSlots {
  if (method !== undefined) {
    if (numPrompts !== undefined) throw new ConfigError('numPrompts', numPrompts, 'must not be given with method (its slots say where its prompts are)');
    const slots = model.tokenSlots(method);
    if (slots.count === 0) throw new ConfigError('method', method.name, 'must insert tokens and be switched on to measure its prompts');
    return slots;
  }
  if (numPrompts === undefined) throw new ConfigError('method', undefined, 'must name the prompt method whose tokens are measured');
  return { start: numPrefixTokens(model.config), count: integer('numPrompts', numPrompts, 1) };
}

/**
 * The NMI of the prompts in `slots` and the last N (patch) tokens of block `block`'s input. With a
 * method, a sequence shorter than CLS + every switched-on method's tokens + N means its prompts
 * have not entered yet (`promptBlock`); with the deprecated `numPrompts`, the sequence must be CLS +
 * those prompts + N.
 */
function slotNmi(model: VisionTransformer, tokens: tf.Tensor3D, block: number, slots: TokenSlots, byMethod: boolean, options: PromptNmiOptions): PromptNmi {
  const [rows, columns] = patchGrid(model.config);
  const numPatches = rows * columns;
  const count = tokens.shape[1];
  if (byMethod) {
    const inserted = model.activeExtensions.reduce((sum, extension) => sum + (extension.insertedTokens ?? 0), 0);
    const full = numPrefixTokens(model.config) + inserted + numPatches;
    if (count < full) throw new ConfigError('block', block, `must be a block the prompts have entered (it receives ${count} tokens, not the ${full} of CLS, every method's prompts and the patches)`);
  } else if (count !== slots.start + slots.count + numPatches) {
    throw new ShapeError(`block ${block} receives ${count} tokens, not ${slots.start} prefix + ${slots.count} prompts + ${numPatches} patches`);
  }
  const parts = tf.tidy(() => [tf.slice(tokens, [0, slots.start, 0], [-1, slots.count, -1]), tf.slice(tokens, [0, count - numPatches, 0], [-1, numPatches, -1])]);
  try {
    return promptPatchNmi(parts[0] as tf.Tensor3D, parts[1] as tf.Tensor3D, options);
  } finally {
    tf.dispose(parts);
  }
}

/**
 * NMI between a prompt method's tokens and the patch tokens (the last N) entering block `block` of
 * `model` with its methods attached (evaluation mode, no dropout), on a batch of images: one point
 * of SPT's Figure 2.
 */
export function promptNmiAtBlock(model: VisionTransformer, images: tf.Tensor4D, options: BlockNmiOptions): PromptNmi {
  const { method, numPrompts, block: _block, ...nmiOptions } = options;
  const block = integer('block', options.block ?? 0, 0);
  const slots = measuredSlots(model, method, numPrompts);
  const [tokens] = blockInputs(model, images, [block]);
  try {
    return slotNmi(model, tokens!, block, slots, method !== undefined, nmiOptions);
  } finally {
    tokens!.dispose();
  }
}

/**
 * The same NMI entering every block from `firstBlock` to the last, from one forward pass: index i
 * of the result is block firstBlock + i (0-based). What a training run records before its first
 * epoch and after each (SPT's Figure 2 at every block).
 */
export function promptNmiPerBlock(model: VisionTransformer, images: tf.Tensor4D, options: PerBlockNmiOptions): PromptNmi[] {
  knownOptions('promptNmiPerBlock', options, ['method', 'firstBlock', 'normalization', 'scale']);
  const { method, firstBlock: _first, ...nmiOptions } = options;
  const depth = model.config.depth;
  const firstBlock = integer('firstBlock', options.firstBlock ?? 0, 0);
  if (firstBlock >= depth) throw new ConfigError('firstBlock', firstBlock, `must be a block index in [0, ${depth - 1}]`);
  const slots = measuredSlots(model, method, undefined);
  const tokens = blockInputs(model, images, Array.from({ length: depth - firstBlock }, (_, index) => firstBlock + index));
  try {
    return tokens.map((blockTokens, index) => slotNmi(model, blockTokens, firstBlock + index, slots, true, nmiOptions));
  } finally {
    tf.dispose(tokens);
  }
}

/**
 * The token sequence entering block `block` (0-based), after every attached method's `enterBlock`,
 * for a batch of images. The caller disposes it.
 */
export function blockInputTokens(model: VisionTransformer, images: tf.Tensor4D, block: number, options: ForwardOptions = {}): tf.Tensor3D {
  return blockInputs(model, images, [block], options)[0]!;
}

/** The token sequences entering `blocks` (0-based, in that order), from one forward pass. The caller disposes them. */
function blockInputs(model: VisionTransformer, images: tf.Tensor4D, blocks: readonly number[], options: ForwardOptions = {}): tf.Tensor3D[] {
  for (const block of blocks) {
    if (!Number.isInteger(block) || block < 0 || block >= model.config.depth) {
      throw new ConfigError('block', block, `must be a block index in [0, ${model.config.depth - 1}]`);
    }
  }
  const captured = new Map<number, tf.Tensor3D>();
  const probe: VitExtension = {
    name: 'block-input-probe',
    enterBlock(tokens: tf.Tensor3D, context: BlockContext) {
      if (blocks.includes(context.blockIndex)) captured.set(context.blockIndex, tf.keep(tf.clone(tokens)));
      return tokens;
    },
  };
  model.attach(probe);
  try {
    model.forwardFeatures(images, options).dispose();
  } catch (error) {
    tf.dispose([...captured.values()]);
    throw error;
  } finally {
    model.detach(probe);
  }
  return blocks.map((block) => captured.get(block)!);
}

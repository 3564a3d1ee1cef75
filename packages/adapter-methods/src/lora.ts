import * as tf from '@tensorflow/tfjs-core';
import type { DeclaredVariable, LinearSite, SiteContext, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, MethodBase, ShapeError, integer, knownOptions, positiveNumber } from '@visual-peft/vit-core';
import { kaimingUniform } from './initializers';
import type { WeightFold } from './merge-state';
import { assignFold, beginMerge, mergedInto, refuseIfMerged, setMerged } from './merge-state';

export type LoraConfigInput = {
  readonly rank?: number;
  readonly alpha?: number;
  readonly seed?: number;
};

/**
 * LoRA (Hu et al., ICLR 2022) on the query and value projections of every block: the fused qkv
 * output gains `x A_q B_q * alpha / rank` in its q third and `x A_v B_v * alpha / rank` in its
 * v third; keys are untouched. A starts random and B at zero, so training starts at the
 * pretrained function (peft's initialisation).
 */
export class LoraConfig {
  /** Rank r of each update. Default 8: the papers' LoRA baseline (294,912 parameters on ViT-B). */
  readonly rank: number;
  /**
   * Scale numerator: the update is multiplied by alpha / rank. Default: equal to `rank` (scale 1).
   * peft's defaults are r = 8 and lora_alpha = 8, also scale 1.
   */
  readonly alpha: number;
  /** Seed of A's initial draw. Default 0. */
  readonly seed: number;

  constructor(input: LoraConfigInput = {}) {
    const options = knownOptions('lora', input, ['rank', 'alpha', 'seed']);
    this.rank = integer('rank', options.rank ?? 8, 1);
    this.alpha = positiveNumber('alpha', options.alpha ?? this.rank);
    this.seed = integer('seed', options.seed ?? 0);
  }

  toJSON(): Required<LoraConfigInput> {
    return { rank: this.rank, alpha: this.alpha, seed: this.seed };
  }
}

interface LowRank {
  /** [D, r], the input side (peft's lora_A, transposed to the model's [in, out] layout). */
  readonly a: tf.Variable;
  /** [r, D], the output side (peft's lora_B). */
  readonly b: tf.Variable;
}

/** LoRA on q and v. Build it with `createLora`; fold it into the weights with `mergeLora`. */
export class LoraMethod extends MethodBase<Required<LoraConfigInput>> {
  readonly name = 'lora';
  /** alpha / rank. */
  readonly scaling: number;
  private readonly dim: number;
  private readonly updates: readonly { readonly query: LowRank; readonly value: LowRank }[];

  constructor(model: VisionTransformer, config: LoraConfig) {
    super(config.toJSON());
    this.scaling = config.alpha / config.rank;
    const dim = model.config.embedDim;
    this.dim = dim;
    const lowRank = (prefix: string): LowRank => ({
      // peft: kaiming_uniform_(lora_A, a=sqrt(5)) over its D inputs; lora_B zero.
      a: this.addVariable(`${prefix}.lora_A`, (seed) => kaimingUniform([dim, config.rank], dim, seed)),
      b: this.addVariable(`${prefix}.lora_B`, () => tf.zeros([config.rank, dim])),
    });
    this.updates = model.blocks.map((block) => ({
      query: lowRank(`blocks.${block.index}.attn.q`),
      value: lowRank(`blocks.${block.index}.attn.v`),
    }));
  }

  /** The qkv output [tokens, 3D] with the low-rank updates added to its q and v thirds. */
  linearOutput(site: LinearSite, input: tf.Tensor2D, output: tf.Tensor2D, context: SiteContext): tf.Tensor2D {
    if (site !== 'attn.qkv') return output;
    refuseIfMerged(this);
    const { query, value } = this.updates[context.blockIndex!]!;
    return tf.tidy(() => {
      const [q, k, v] = tf.split(output, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      return tf.concat([tf.add<tf.Tensor2D>(q, this.project(input, query)), k, tf.add<tf.Tensor2D>(v, this.project(input, value))], 1);
    });
  }

  /**
   * Block `blockIndex`'s update of the qkv weight in the model's [in, out] layout, [D, 3D]:
   * [A_q B_q, 0, A_v B_v] * alpha / rank, what `mergeLora` adds to `blocks.i.attn.qkv.weight`.
   */
  weightUpdate(blockIndex: number): tf.Tensor2D {
    const { query, value } = this.updates[blockIndex]!;
    return tf.tidy(
      () => tf.mul(tf.concat([tf.matMul(query.a, query.b), tf.zeros([this.dim, this.dim]), tf.matMul(value.a, value.b)], 1), this.scaling) as tf.Tensor2D,
    );
  }

  /** Number of blocks and width the method was built for. */
  get shape(): { readonly depth: number; readonly dim: number } {
    return { depth: this.updates.length, dim: this.dim };
  }

  /** x A B * alpha / rank, scaled on the narrow [tokens, r] side. */
  private project(x: tf.Tensor2D, { a, b }: LowRank): tf.Tensor2D {
    const narrow = tf.matMul(x, a as tf.Tensor2D);
    return tf.matMul(this.scaling === 1 ? narrow : tf.mul(narrow, this.scaling), b as tf.Tensor2D);
  }
}

/** LoRA on q and v for `model` (not attached). */
export function createLora(model: VisionTransformer, config: LoraConfig | LoraConfigInput = {}): LoraMethod {
  return new LoraMethod(model, config instanceof LoraConfig ? config : new LoraConfig(config));
}

/** The variables `createLora` builds on a backbone of `backbone`, without building them: A [D, r] and B [r, D] for q and v in every block. */
export function loraShapes(backbone: VitConfig, config: LoraConfig | LoraConfigInput = {}): Map<string, DeclaredVariable> {
  const { rank } = config instanceof LoraConfig ? config : new LoraConfig(config);
  const dim = backbone.embedDim;
  return new Map(
    Array.from({ length: backbone.depth }, (_, block) =>
      ['q', 'v'].flatMap((projection): [string, DeclaredVariable][] => [
        [`blocks.${block}.attn.${projection}.lora_A`, { shape: [dim, rank] }],
        [`blocks.${block}.attn.${projection}.lora_B`, { shape: [rank, dim] }],
      ]),
    ).flat(),
  );
}

/**
 * Writes the LoRA update into the backbone's qkv weights (W += [A_q B_q, 0, A_v B_v] * alpha / r)
 * and detaches the method: the model alone then computes what it computed with LoRA attached, to
 * float rounding, at no extra cost per pass. `unmergeLora` takes the update back out.
 */
export function mergeLora(model: VisionTransformer, lora: LoraMethod): void {
  checkLoraFits(model, lora);
  beginMerge(model, lora);
  assignFold(model, loraFold(model, lora, 1));
  setMerged(lora, model);
}

/**
 * Subtracts the merged update from the qkv weights and attaches the method again, so training can
 * go on. The weights come back to float rounding of their values before the merge (W + d - d).
 */
export function unmergeLora(model: VisionTransformer, lora: LoraMethod): void {
  if (mergedInto(lora) !== model) throw new ConfigError('method', lora.name, 'is not merged into this model (mergeLora merges it)');
  assignFold(model, loraFold(model, lora, -1));
  setMerged(lora, null);
  model.attach(lora);
}

/** Refuses a model of another depth or width than the one `lora` was built for. */
export function checkLoraFits(model: VisionTransformer, lora: LoraMethod): void {
  const { depth, dim } = lora.shape;
  if (model.blocks.length !== depth || model.config.embedDim !== dim) {
    throw new ShapeError(
      `lora was built for ${depth} blocks of width ${dim}; the model has ${model.blocks.length} blocks of width ${model.config.embedDim}`,
    );
  }
}

/** W += sign * [A_q B_q, 0, A_v B_v] * alpha / r on every block's qkv weight. */
export function loraFold(model: VisionTransformer, lora: LoraMethod, sign: 1 | -1): WeightFold {
  return new Map(
    model.blocks.map((block) => [block.qkv.weight.key, (current: tf.Tensor) => tf.add(current, tf.mul(lora.weightUpdate(block.index), sign))]),
  );
}

import type { VitConfig } from '@visual-peft/vit-core';
import { numPrefixTokens, patchGrid } from '@visual-peft/vit-core';

/** One matrix product at the model's shapes, as tf.matMul takes it. */
export interface MatMulSpec {
  readonly name: string;
  readonly a: number[];
  readonly b: number[];
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly flops: number;
}

/** Tokens per image: prefix tokens and patches. */
export function tokenCount(config: VitConfig): number {
  const [rows, columns] = patchGrid(config);
  return numPrefixTokens(config) + rows * columns;
}

/** The products of one block's forward and backward at batch `batch`: linear layers and attention. */
export function matmulSpecs(config: VitConfig, batch: number): MatMulSpec[] {
  const tokens = tokenCount(config);
  const dim = config.embedDim;
  const hidden = dim * config.mlpRatio;
  const heads = config.numHeads;
  const headDim = dim / heads;
  const r = batch * tokens;
  const linear = 2 * r * dim * hidden;
  const attention = 2 * batch * heads * tokens * tokens * headDim;
  const spec = (name: string, a: number[], b: number[], transposeA: boolean, transposeB: boolean, flops: number): MatMulSpec => ({ name, a, b, transposeA, transposeB, flops });
  return [
    spec('fc1 forward: x W', [r, dim], [dim, hidden], false, false, linear),
    spec('fc1 input gradient: dy W^T', [r, hidden], [dim, hidden], false, true, linear),
    spec('fc1 weight gradient: x^T dy', [r, dim], [r, hidden], true, false, linear),
    spec('fc1 on 3-D tokens: [B, T, D] W', [batch, tokens, dim], [dim, hidden], false, false, linear),
    spec('attention logits: q k^T per head', [batch, heads, tokens, headDim], [batch, heads, tokens, headDim], false, true, attention),
    spec('attention mix: p v per head', [batch, heads, tokens, tokens], [batch, heads, tokens, headDim], false, false, attention),
  ];
}

/** Flops of one block's forward pass at `batch`: its four linear layers and attention's two products. */
export function blockFlops(config: VitConfig, batch: number): number {
  const tokens = tokenCount(config);
  const dim = config.embedDim;
  const linear = 2 * batch * tokens * dim * (3 * dim + dim + 2 * dim * config.mlpRatio);
  return linear + 2 * (2 * batch * tokens * tokens * dim);
}

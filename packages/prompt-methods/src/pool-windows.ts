import { ConfigError, ShapeError } from '@visual-peft/vit-core';

export type PoolMode = 'mean' | 'max';

/**
 * Self-Prompt Tuning's kernel for mean / max pooling a batch: floor(N_e * B / N_p) for the N_e * B
 * tokens of B images and N_p prompts (SPT, Wang et al. 2024, "Mean (max) pooling", the section on
 * optimising prompt construction). Refuses fewer tokens than prompts (a kernel of 0).
 */
export function batchPoolKernel(numTokens: number, numPrompts: number): number {
  if (!Number.isInteger(numPrompts) || numPrompts < 1) throw new ConfigError('numPrompts', numPrompts, 'must be an integer >= 1');
  const kernel = Math.floor(numTokens / numPrompts);
  if (kernel === 0) throw new ConfigError('numPrompts', numPrompts, `must not exceed the tokens of the batch (${numTokens}) for pooled prompts`);
  return kernel;
}

/**
 * SPT's mean / max pooling of one batch's tokens for N_p prompts: the batch's N_e * B tokens
 * ([numTokens, dim] row-major, image after image, each in raster order, as the paper's E*_i lists
 * them) pooled with a non-overlapping window of k = floor(N_e * B / N_p) tokens; prompt i pools
 * tokens i k .. (i + 1) k - 1, so a window may span two images. The N_e * B - N_p k tokens after
 * the last window (fewer than N_p) are left out, as a pooling of stride k that outputs N_p tokens
 * leaves them. Returns [numPrompts, dim].
 */
export function poolBatchTokens(tokens: Float32Array, numTokens: number, dim: number, numPrompts: number, mode: PoolMode): Float32Array {
  const kernel = batchPoolKernel(numTokens, numPrompts);
  if (tokens.length < numTokens * dim) throw new ShapeError(`tokens must hold ${numTokens} x ${dim} values, got ${tokens.length}`);
  const pooled = new Float32Array(numPrompts * dim);
  for (let window = 0; window < numPrompts; window++) {
    const start = window * kernel;
    for (let d = 0; d < dim; d++) {
      let value = mode === 'max' ? -Infinity : 0;
      for (let token = start; token < start + kernel; token++) {
        const x = tokens[token * dim + d]!;
        value = mode === 'max' ? Math.max(value, x) : value + x;
      }
      pooled[window * dim + d] = mode === 'max' ? value : value / kernel;
    }
  }
  return pooled;
}

/**
 * One image's tokens ([numTokens, dim], raster order) pooled for P prompts: P - 1 windows of
 * floor(N / (P - 1)) consecutive tokens, then a window of the tokens left over when there are any.
 * Returns [windows, dim], with P - 1 or P windows.
 * @deprecated Not SPT's pooling: at N = 196 and P = 100 its windows are single tokens. Use
 * `poolBatchTokens` (the paper's kernel over a batch). Removed in the next minor release.
 */
export function poolWindows(tokens: Float32Array, numTokens: number, dim: number, numPrompts: number, mode: PoolMode): Float32Array {
  const starts = poolWindowStarts(numTokens, numPrompts);
  const pooled = new Float32Array(starts.length * dim);
  starts.forEach((start, window) => {
    const end = window + 1 < starts.length ? starts[window + 1]! : numTokens;
    for (let d = 0; d < dim; d++) {
      let value = mode === 'max' ? -Infinity : 0;
      for (let token = start; token < end; token++) {
        const x = tokens[token * dim + d]!;
        value = mode === 'max' ? Math.max(value, x) : value + x;
      }
      pooled[window * dim + d] = mode === 'max' ? value : value / (end - start);
    }
  });
  return pooled;
}

/**
 * Where each window of `poolWindows` starts, for `numTokens` tokens and P prompts.
 * @deprecated Goes with `poolWindows`; use `batchPoolKernel`. Removed in the next minor release.
 */
export function poolWindowStarts(numTokens: number, numPrompts: number): number[] {
  if (numPrompts < 2) throw new ConfigError('numPrompts', numPrompts, 'must be at least 2 for pooled prompts (P - 1 windows plus the remainder)');
  const width = Math.floor(numTokens / (numPrompts - 1));
  if (width === 0) throw new ConfigError('numPrompts', numPrompts, `must be at most the number of tokens + 1 (${numTokens + 1}) for pooled prompts`);
  const starts = Array.from({ length: numPrompts - 1 }, (_, window) => window * width);
  const leftover = (numPrompts - 1) * width;
  if (leftover < numTokens) starts.push(leftover);
  return starts;
}

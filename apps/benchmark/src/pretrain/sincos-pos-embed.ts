import { ConfigError } from '@visual-peft/vit-core';

/**
 * The fixed 2-D sine-cosine position embedding MAE uses in its encoder and decoder, [prefix + rows *
 * columns, dim] row-major, zeros for the prefix (CLS) tokens: the first half of the channels encodes
 * the patch's column, the second half its row, each as sines then cosines of position * 10000^(-k/(dim/4)).
 */
export function sincosPosEmbed(dim: number, rows: number, columns: number, prefix: number): Float32Array {
  if (!Number.isInteger(dim) || dim % 4 !== 0 || dim < 4) throw new ConfigError('embedDim', dim, 'must be a positive multiple of 4 for a 2-D sine-cosine position embedding');
  const quarter = dim / 4;
  const out = new Float32Array((prefix + rows * columns) * dim);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const offset = (prefix + row * columns + column) * dim;
      for (let k = 0; k < quarter; k++) {
        const frequency = 1 / 10000 ** (k / quarter);
        out[offset + k] = Math.sin(column * frequency);
        out[offset + quarter + k] = Math.cos(column * frequency);
        out[offset + 2 * quarter + k] = Math.sin(row * frequency);
        out[offset + 3 * quarter + k] = Math.cos(row * frequency);
      }
    }
  }
  return out;
}

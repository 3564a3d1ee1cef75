import { FormatError } from '../errors';
import type { StateDict } from './host-tensor';

/**
 * Refuses a state dict holding NaN or an infinity in any float32 tensor: a `FormatError` naming
 * `source`, the first such tensor (in file order), the first bad index and value, and how many of
 * its values are bad. Loading one would give NaN logits without a word. One pass over the floats
 * (`x - x` is 0 exactly when x is finite); integer tensors cannot hold either.
 */
export function checkFinite(stateDict: StateDict, source: string): void {
  for (const [name, tensor] of stateDict) {
    if (tensor.dtype !== 'float32') continue;
    const data = tensor.data;
    let first = -1;
    let count = 0;
    for (let index = 0; index < data.length; index += 1) {
      const value = data[index]!;
      if (value - value !== 0) {
        if (first < 0) first = index;
        count += 1;
      }
    }
    if (first >= 0) {
      throw new FormatError(
        source,
        `tensor ${name} holds ${count} non-finite value${count === 1 ? '' : 's'} (first: ${data[first]} at flat index ${first}); a checkpoint must hold finite weights`,
      );
    }
  }
}

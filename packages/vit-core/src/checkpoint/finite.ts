import { FormatError } from '../errors';
import type { StateDict } from './host-tensor';

/**
 * Refuses a state dict holding NaN or an infinity in any float32 tensor: a `FormatError` naming
 * `source`, the first such tensor (in file order), the first bad index and value, and how many of
 * its values are bad. Loading one would give NaN logits without a word. One pass over the floats
 * of a clean file; integer tensors cannot hold either.
 */
export function checkFinite(stateDict: StateDict, source: string): void {
  for (const [name, tensor] of stateDict) {
    if (tensor.dtype !== 'float32') continue;
    const data = tensor.data;
    // x * 0 is 0 for every finite x and NaN for NaN and the infinities: one branch-free pass, and a
    // second (counting) only over a tensor that holds a bad value.
    let probe = 0;
    for (let index = 0; index < data.length; index += 1) probe += data[index]! * 0;
    if (probe === 0) continue;
    let first = -1;
    let count = 0;
    for (let index = 0; index < data.length; index += 1) {
      const value = data[index]!;
      if (value - value !== 0) {
        if (first < 0) first = index;
        count += 1;
      }
    }
    throw new FormatError(
      source,
      `tensor ${name} holds ${count} non-finite value${count === 1 ? '' : 's'} (first: ${data[first]} at flat index ${first}); a checkpoint must hold finite weights`,
    );
  }
}

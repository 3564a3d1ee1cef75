import type { HostTensor } from '@visual-peft/vit-core';
import { FormatError, fromHostTensor as coreFromHostTensor, toHostTensor as coreToHostTensor } from '@visual-peft/vit-core';

/** @deprecated Import `toHostTensor` from `@visual-peft/vit-core`, beside `HostTensor`; this re-export goes in the next release. */
export const toHostTensor: typeof coreToHostTensor = coreToHostTensor;

/** @deprecated Import `fromHostTensor` from `@visual-peft/vit-core`, beside `HostTensor`; this re-export goes in the next release. */
export const fromHostTensor: typeof coreFromHostTensor = coreFromHostTensor;

/** Refuses a saved float32 tensor of another dtype or shape than `shape`, naming it. */
export function requireFloat32Shape(source: string, name: string, host: HostTensor, shape: readonly number[]): void {
  if (host.dtype !== 'float32' || host.shape.length !== shape.length || host.shape.some((size, axis) => size !== shape[axis])) {
    throw new FormatError(source, `${name} must be float32 [${shape.join(', ')}], got ${host.dtype} [${host.shape.join(', ')}]`);
  }
}

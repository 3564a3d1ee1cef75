import * as tf from '@tensorflow/tfjs-core';
import type { StateDict } from './checkpoint/host-tensor';
import { fromHostTensor, toHostTensor } from './checkpoint/host-tensor';
import { parseSafetensors, serializeSafetensors } from './checkpoint/safetensors';
import { FormatError, checkTensors, formatValue } from './errors';
import type { TuningMethod } from './extension';

/** The `format` in the metadata of the bytes `serializeMethodWeights` writes. */
export const METHOD_WEIGHTS_FORMAT = 'visual-peft-method-weights';

/**
 * One method's weights (what `method.weights()` gives, under the same names) as safetensors bytes,
 * to save or download without a file system. The metadata records the method's name and config
 * (JSON) besides any `metadata` given.
 */
export function serializeMethodWeights(method: TuningMethod, metadata: Record<string, string> = {}): Uint8Array {
  const weights = method.weights();
  try {
    const tensors: StateDict = new Map([...weights].map(([name, tensor]) => [name, toHostTensor(tensor)]));
    return serializeSafetensors(tensors, { format: METHOD_WEIGHTS_FORMAT, method: method.name, config: JSON.stringify(method.config), ...metadata });
  } finally {
    tf.dispose([...weights.values()]);
  }
}

/**
 * Loads safetensors bytes (from `serializeMethodWeights`, or any file holding exactly the names
 * `method.weights()` gives) into the method and returns their metadata. Every name, shape and dtype
 * is checked before anything is loaded (`checkMethodWeights`); bytes saved for another method are
 * refused.
 */
export function loadMethodWeights(method: TuningMethod, bytes: Uint8Array, source = '<bytes>'): Record<string, string> {
  const { tensors, metadata } = parseSafetensors(bytes, source);
  if (metadata.method !== undefined && metadata.method !== method.name) {
    throw new FormatError(source, `holds the weights of ${formatValue(metadata.method)}, not of ${formatValue(method.name)}`);
  }
  const weights = new Map([...tensors].map(([name, host]) => [name, fromHostTensor(host)]));
  try {
    checkMethodWeights(method, weights, source);
    method.loadWeights(weights);
  } finally {
    tf.dispose([...weights.values()]);
  }
  return metadata;
}

/**
 * Throws `CheckpointMismatchError` when `weights` do not fit `method`, writing nothing: through the
 * method's own `checkWeights` (`MethodBase`: from its configuration, so a fresh, unprepared method
 * such as SCT before its channels are chosen is checked too), else against what `weights()` gives now.
 */
export function checkMethodWeights(method: TuningMethod, weights: ReadonlyMap<string, tf.Tensor>, source: string): void {
  if (method.checkWeights !== undefined) {
    method.checkWeights(weights);
    return;
  }
  const current = method.weights();
  try {
    const expected = new Map([...current].map(([name, tensor]) => [name, { shape: tensor.shape, dtype: tensor.dtype as string }]));
    checkTensors(source, expected, weights);
  } finally {
    tf.dispose([...current.values()]);
  }
}

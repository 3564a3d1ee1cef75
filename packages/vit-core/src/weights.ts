import type { StateDict } from './checkpoint/host-tensor';
import { numPrefixTokens, patchGrid } from './config';
import { CheckpointMismatchError, FormatError } from './errors';
import type { ShapeMismatch } from './errors';
import type { Parameter } from './parameter';
import { assignParameter, readParameter, sameShape } from './parameter';
import { resamplePosEmbed } from './pos-embed';
import type { VisionTransformer } from './vision-transformer';
import { oneOf } from './validate';

export interface LoadOptions {
  /** Name of the checkpoint in messages (a file path). Default 'checkpoint'. */
  readonly source?: string;
  /**
   * 'load' (default): the checkpoint's `head.*` must be there and fit. 'discard': `head.*` and
   * `pre_logits.*` in the checkpoint are ignored whatever their shape, and the model keeps its own
   * (fresh) head: what transfer to a new task needs.
   */
  readonly head?: 'load' | 'discard';
  /**
   * Where a model with `fcNorm` gets its `fc_norm` weights: 'checkpoint' (its `fc_norm.*`, default),
   * 'from-norm' (the checkpoint's final `norm.*`, as GatedPT and SPT read MAE), or 'fresh' (keep
   * gamma 1, beta 0 and ignore the checkpoint's `norm.*`, as VPT does for MAE).
   */
  readonly fcNorm?: 'checkpoint' | 'from-norm' | 'fresh';
  /** Resample `pos_embed` when the checkpoint's patch grid differs from the model's (as timm does). Default true. */
  readonly resamplePosEmbed?: boolean;
}

export interface LoadReport {
  /** Checkpoint keys deliberately not loaded (a discarded head, a norm replaced by fc_norm). */
  readonly ignored: string[];
  /** The grids when `pos_embed` was resampled. */
  readonly posEmbedResampled: { from: [number, number]; to: [number, number] } | null;
}

const HEAD_KEY = /^(head|pre_logits)\./;

/**
 * Loads a timm-named state dict into the model. Every missing, unexpected and wrong-shaped key is
 * collected first and reported together; nothing is written unless the whole checkpoint fits.
 */
export function loadStateDict(model: VisionTransformer, stateDict: StateDict, options: LoadOptions = {}): LoadReport {
  const source = options.source ?? 'checkpoint';
  const headMode = oneOf('head', options.head ?? 'load', ['load', 'discard'] as const);
  const fcNormMode = oneOf('fcNorm', options.fcNorm ?? 'checkpoint', ['checkpoint', 'from-norm', 'fresh'] as const);
  const entries = new Map(stateDict);
  const ignored: string[] = [];
  const take = (key: string) => {
    if (entries.delete(key)) ignored.push(key);
  };
  const expected = new Map<string, Parameter>(model.parameters.map((parameter) => [parameter.key, parameter]));
  const skipped = new Set<string>();

  if (headMode === 'discard') {
    for (const key of [...entries.keys()]) if (HEAD_KEY.test(key)) take(key);
    for (const key of expected.keys()) if (key.startsWith('head.')) skipped.add(key);
  }
  if (model.config.fcNorm) {
    if (fcNormMode === 'from-norm') {
      for (const suffix of ['weight', 'bias']) {
        const value = entries.get(`norm.${suffix}`);
        if (value !== undefined && !entries.has(`fc_norm.${suffix}`)) {
          entries.delete(`norm.${suffix}`);
          entries.set(`fc_norm.${suffix}`, value);
        }
      }
    } else if (fcNormMode === 'fresh') {
      take('norm.weight');
      take('norm.bias');
      skipped.add('fc_norm.weight').add('fc_norm.bias');
    }
  }

  let posEmbedResampled: LoadReport['posEmbedResampled'] = null;
  const posEmbed = entries.get('pos_embed');
  const modelPosEmbed = expected.get('pos_embed')!;
  if (posEmbed !== undefined && !sameShape(posEmbed.shape, modelPosEmbed.timmShape) && options.resamplePosEmbed !== false) {
    const prefix = numPrefixTokens(model.config);
    const gridTokens = (posEmbed.shape[1] ?? 0) - prefix;
    const side = Math.round(Math.sqrt(gridTokens));
    if (posEmbed.shape.length === 3 && posEmbed.shape[2] === model.config.embedDim && side * side === gridTokens && side > 0) {
      const to = patchGrid(model.config);
      entries.set(
        'pos_embed',
        resamplePosEmbed(posEmbed, {
          numPrefixTokens: prefix,
          from: [side, side],
          to,
          mode: model.config.posEmbedInterpolation,
          antialias: true,
        }),
      );
      posEmbedResampled = { from: [side, side], to };
    }
  }

  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  for (const [key, parameter] of expected) {
    if (skipped.has(key)) continue;
    const value = entries.get(key);
    if (value === undefined) missing.push(key);
    else if (!sameShape(value.shape, parameter.timmShape)) mismatched.push({ key, expected: parameter.timmShape, found: value.shape });
  }
  const notFloat = [...expected.keys()].filter((key) => !skipped.has(key) && entries.get(key)?.dtype !== undefined && entries.get(key)?.dtype !== 'float32');
  if (notFloat.length > 0) throw new FormatError(source, `weights must be floating point: ${notFloat.map((key) => `${key} is ${entries.get(key)!.dtype}`).join(', ')}`);
  const unexpected = [...entries.keys()].filter((key) => !expected.has(key));
  if (missing.length > 0 || unexpected.length > 0 || mismatched.length > 0) {
    throw new CheckpointMismatchError(source, missing, unexpected, mismatched);
  }
  for (const [key, parameter] of expected) {
    if (!skipped.has(key)) assignParameter(parameter, entries.get(key)!, source);
  }
  return { ignored, posEmbedResampled };
}

/** The model's weights in timm's names and layouts, ready for `serializeSafetensors`. */
export function getStateDict(model: VisionTransformer): StateDict {
  return new Map(model.parameters.map((parameter) => [parameter.key, readParameter(parameter)]));
}

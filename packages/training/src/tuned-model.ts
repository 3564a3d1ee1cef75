import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MethodDefinition, TuningMethod, VitConfig, VitConfigInput } from '@visual-peft/vit-core';
import { ConfigError, FormatError, VisionTransformer, isVitPreset, loadStateDict, readCheckpoint, resolveVitConfig, vitPreset } from '@visual-peft/vit-core';
import type { BackboneInit, TunedWeightsManifest } from './tuned-weights';
import { applyTunedWeights, checkTunedBackbone } from './tuned-weights';
import { readTunedWeights } from './tuned-weights-files';

/** The backbone a tuned model was tuned on, where its file does not record it (or to move it). */
export interface TunedBackbone {
  /** A preset name (`vit_base_patch16_224`) or a config. Default: the config saved in the manifest. */
  readonly backbone?: string | VitConfigInput;
  /** The pretrained checkpoint (`.safetensors` or `.npz`). Default: the one the manifest records. */
  readonly weights?: string;
  /**
   * Where `fc_norm` comes from with `weights` (as in `loadStateDict`): for a file that does not record
   * it (saved before `backboneInit`), e.g. 'from-norm' for an MAE checkpoint. Default: the recorded
   * source, else 'checkpoint'.
   */
  readonly fcNorm?: 'checkpoint' | 'from-norm' | 'fresh';
}

/** A `train` output folder (`visual-peft-bench train --out <dir>`): its `tuned.safetensors` and `tuned.json`. */
export interface TunedRunSource extends TunedBackbone {
  readonly run: string;
}

/** A tuned-weights file (`saveTunedWeights`: the `.safetensors` of the pair). */
export interface TunedFilesSource extends TunedBackbone {
  readonly tuned: string;
}

export interface LoadTunedModelOptions {
  /** Every method the file may hold (e.g. the packages' `*_DEFINITIONS`), found by name. */
  readonly definitions: readonly MethodDefinition[];
}

/** A rebuilt tuned model; the caller disposes `methods` and then `model`. */
export interface TunedModel {
  readonly model: VisionTransformer;
  /** Attached, in their saved order. */
  readonly methods: TuningMethod[];
  /** The head's class names in label order; null where the run did not save them. */
  readonly classNames: readonly string[] | null;
  readonly manifest: TunedWeightsManifest;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

/** The tuned-weights files to apply, in order: a two-stage run's frozen first stage (`stage1/`), then the run's own. */
async function tunedFiles(source: TunedRunSource | TunedFilesSource): Promise<string[]> {
  if ('tuned' in source) return [source.tuned];
  const own = join(source.run, 'tuned.safetensors');
  if (!(await isFile(own))) throw new FormatError(source.run, 'has no tuned.safetensors: not a finished `train` output folder');
  const first = join(source.run, 'stage1', 'tuned.safetensors');
  return (await isFile(first)) ? [first, own] : [own];
}

function backboneConfig(backbone: string | VitConfigInput | undefined, manifest: TunedWeightsManifest): VitConfig {
  if (backbone === undefined) return resolveVitConfig(manifest.backbone);
  if (typeof backbone !== 'string') return resolveVitConfig({ ...backbone, numClasses: manifest.numClasses });
  if (!isVitPreset(backbone)) throw new ConfigError('backbone', backbone, 'must be a preset name or a config object');
  return vitPreset(backbone, { numClasses: manifest.numClasses });
}

/**
 * Rebuilds a tuned model ready to predict, from a `train` output folder or a tuned-weights file:
 * the backbone (the manifest's config and the pretrained checkpoint or seeded initialisation it
 * records, or those given), the methods and their weights, the head, and the class names saved
 * with the run. The model is in inference mode (no dropout or drop-path unless `forward` is asked
 * for training). Bad input raises one error naming the file: a run folder without tuned weights,
 * a file tuned on another backbone (`ConfigError`), a method missing from `definitions`.
 */
export async function loadTunedModel(source: TunedRunSource | TunedFilesSource, { definitions }: LoadTunedModelOptions): Promise<TunedModel> {
  const paths = await tunedFiles(source);
  const files = await Promise.all(paths.map((path) => readTunedWeights(path)));
  const last = files.at(-1)!;
  const { manifest } = last;
  const tunedPath = paths.at(-1)!;
  const config = backboneConfig(source.backbone, manifest);
  checkTunedBackbone(config, manifest, tunedPath);
  const saved = manifest.backboneInit;
  // A checkpoint given in place of the saved one takes the saved fc_norm source (MAE's `from-norm`) unless told otherwise.
  const fcNorm = source.fcNorm ?? (saved !== undefined && saved.weights !== null ? saved.fcNorm : 'checkpoint');
  const init: BackboneInit | undefined = source.weights === undefined ? saved : { weights: source.weights, fcNorm };
  if (init === undefined) throw new ConfigError('weights', undefined, `must name the pretrained checkpoint: ${tunedPath} does not record the backbone it was tuned on`);
  // Read before building anything, so a missing checkpoint leaves nothing to free.
  const checkpoint = init.weights === null ? null : await readCheckpoint(init.weights);
  const model = new VisionTransformer(config, init.weights === null ? { seed: init.seed, weights: 'random' } : { weights: 'zeros' });
  const methods: TuningMethod[] = [];
  try {
    if (checkpoint !== null && init.weights !== null) loadStateDict(model, checkpoint.stateDict, { source: init.weights, head: 'discard', fcNorm: init.fcNorm });
    for (const [index, file] of files.entries()) methods.push(...applyTunedWeights(file, model, definitions, paths[index]!));
  } catch (error) {
    methods.forEach((method) => method.dispose());
    model.dispose();
    throw error;
  }
  return { model, methods, classNames: manifest.classNames ?? null, manifest };
}

import { isDeepStrictEqual } from 'node:util';
import type { MethodDefinition, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, FormatError, writeFileAtomic } from '@visual-peft/vit-core';
import { readBytes, readJson } from './read-files';
import type { TunedRunInfo, TunedWeights, TunedWeightsManifest } from './tuned-weights';
import { applyTunedWeights, checkTunedWeightsManifest, decodeTunedWeights, encodeTunedWeightsWithManifest } from './tuned-weights';

function manifestPath(path: string): string {
  if (!path.endsWith('.safetensors')) throw new ConfigError('path', path, "must end with '.safetensors'");
  return `${path.slice(0, -'.safetensors'.length)}.json`;
}

/** Writes tuned-weights bytes to `path` and their manifest beside it (`x.json` for `x.safetensors`), each atomically, creating missing folders. */
export async function writeTunedWeightsFiles(path: string, bytes: Uint8Array, manifest: TunedWeightsManifest): Promise<void> {
  const jsonPath = manifestPath(path);
  await writeFileAtomic(path, bytes);
  await writeFileAtomic(jsonPath, `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Saves the attached methods' weights apart from the backbone: `path` (safetensors: the bytes
 * `encodeTunedWeights` gives, the methods' tensors, the head and any trainable backbone weight)
 * and the JSON manifest beside it (`x.json` for `x.safetensors`), each written atomically into
 * folders created as needed. The manifest is also kept in the safetensors metadata, so a loader
 * can tell a torn pair. A few KB to MB: the frozen backbone is not saved. `info` adds the class
 * names and where the backbone came from, so `loadTunedModel` can rebuild the model from the file alone.
 */
export async function saveTunedWeights(path: string, model: VisionTransformer, methods: readonly TuningMethod[], info: TunedRunInfo = {}): Promise<TunedWeightsManifest> {
  manifestPath(path);
  const { bytes, manifest } = encodeTunedWeightsWithManifest(model, methods, info);
  await writeTunedWeightsFiles(path, bytes, manifest);
  return manifest;
}

/** Reads a tuned-weights pair without touching any model. */
export async function readTunedWeights(path: string): Promise<TunedWeights> {
  const jsonPath = manifestPath(path);
  const manifest = checkTunedWeightsManifest(await readJson(jsonPath), jsonPath);
  const weights = decodeTunedWeights(await readBytes(path), path);
  // By value, not by text: another tool may order keys or write numbers differently (Python's `1e-06`).
  if (!isDeepStrictEqual(weights.manifest, manifest)) {
    throw new FormatError(path, `was not written together with ${jsonPath} (their manifests differ)`);
  }
  return weights;
}

/** Rebuilds saved methods on a backbone from a tuned-weights pair (see `applyTunedWeights`); the caller disposes them. */
export async function loadTunedWeights(path: string, model: VisionTransformer, definitions: readonly MethodDefinition[]): Promise<TuningMethod[]> {
  return applyTunedWeights(await readTunedWeights(path), model, definitions, path);
}

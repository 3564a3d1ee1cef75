import { readFile } from 'node:fs/promises';
import type { VitConfig, VitConfigInput } from '@visual-peft/vit-core';
import { FileSystemError, VIT_PRESETS, isVitPreset, readCheckpoint, resolveVitConfig, vitPreset } from '@visual-peft/vit-core';
import type { Io } from './io';
import type { BackboneWeights } from './train-job';
import { UsageError } from './errors';
import { parseStrictJson } from './number-text';

/**
 * `--backbone`: a preset name (vit_base_patch16_224, ...) or the path of a JSON file holding a
 * ViT config in timm's camelCase names.
 */
export async function resolveBackbone(backbone: string, overrides: VitConfigInput = {}): Promise<VitConfig> {
  if (isVitPreset(backbone)) return vitPreset(backbone, overrides);
  if (!backbone.endsWith('.json')) {
    throw new UsageError(`--backbone must be one of ${Object.keys(VIT_PRESETS).join(', ')} or a config .json file, got ${JSON.stringify(backbone)}`);
  }
  let text: string;
  try {
    text = await readFile(backbone, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`--backbone ${backbone}: no such file`);
    throw FileSystemError.from(error, backbone, 'read') ?? error;
  }
  let parsed: unknown;
  try {
    parsed = parseStrictJson(text);
  } catch (error) {
    throw new UsageError(`--backbone ${backbone}: not valid JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--backbone ${backbone}: must hold a JSON object of ViT config fields`);
  }
  return resolveVitConfig({ ...(parsed as VitConfigInput), ...overrides });
}

/** `--weights`: the checkpoint's state dict, or null (said on stderr: the backbone then starts from random weights). */
export async function weightsFlag(command: string, path: string | undefined, io: Io): Promise<BackboneWeights | null> {
  if (path === undefined) {
    io.stderr(`${command}: no --weights given: the backbone is randomly initialised, not pretrained`);
    return null;
  }
  return { source: path, stateDict: (await readCheckpoint(path)).stateDict };
}

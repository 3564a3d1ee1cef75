import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateDict } from '@visual-peft/vit-core';
import { parseSafetensors, serializeSafetensors } from '@visual-peft/vit-core';

export const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));

/**
 * The tiny ViT's encoder in MAE's released layout, as `convert_torch_checkpoint.py --format mae`
 * writes `mae_pretrain_vit_base.pth`: timm's names, the final `norm` kept, no `fc_norm` and no head
 * (MAE pretrains without a classifier; its decoder and mask token are dropped by the converter).
 * Writes `<directory>/tiny-mae.safetensors` and the tiny config with average pooling beside it.
 */
export function writeTinyMaeCheckpoint(directory: string): { weights: string; avgConfig: string; stateDict: StateDict } {
  const { tensors } = parseSafetensors(new Uint8Array(readFileSync(tinyVit('tiny-vit.safetensors'))), 'tiny-vit.safetensors');
  const stateDict: StateDict = new Map([...tensors].filter(([key]) => !key.startsWith('head.')));
  const weights = join(directory, 'tiny-mae.safetensors');
  writeFileSync(weights, serializeSafetensors(stateDict, { format: 'mae' }));
  const avgConfig = join(directory, 'tiny-mae.json');
  writeFileSync(avgConfig, JSON.stringify({ ...JSON.parse(readFileSync(tinyVit('config.json'), 'utf8')), globalPool: 'avg' }));
  return { weights, avgConfig, stateDict };
}

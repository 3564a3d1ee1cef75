import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultRecord } from '../../suite/result-record';

/** A file of vit-core's tiny ViT fixture (2 blocks, 32 dims, 32x32 images, 8-pixel patches). */
export const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));

/** `run` of a suite on the tiny ViT with its weights, on the cpu backend. */
export const suiteRunArgs = (data: string, suite: string, out: string, ...extra: string[]) => [
  'run', '--suite', suite, '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'),
  '--data', data, '--out', out, '--backend', 'cpu', ...extra,
];

/** A store's records by job id. */
export function storedResults(out: string): Map<string, ResultRecord> {
  const dir = join(out, 'results');
  return new Map(readdirSync(dir).filter((name) => name.endsWith('.json')).map((name) => [name.slice(0, -5), JSON.parse(readFileSync(join(dir, name), 'utf8')) as ResultRecord]));
}

/** Every file under a directory with its bytes and modification time (to show that a refusal touched nothing). */
export function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = `${statSync(path).mtimeMs}:${readFileSync(path, 'base64')}`;
    }
  };
  walk(dir);
  return files;
}

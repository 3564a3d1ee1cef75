import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { ClassificationSplit, SegmentationSplit } from '@visual-peft/datasets';
import { writeFileAtomic } from '@visual-peft/vit-core';

/**
 * Where computed checkpoint hashes are kept: `$VISUAL_PEFT_CACHE_DIR`, else `$XDG_CACHE_HOME/visual-peft`,
 * else `~/.cache/visual-peft`. A user cache rather than a store's own folder: one checkpoint serves many
 * stores and `train` runs (hashed once per machine), and nothing is written into `--out` before every
 * check has passed.
 */
export function cacheDir(): string {
  const own = process.env.VISUAL_PEFT_CACHE_DIR;
  if (own !== undefined && own !== '') return resolve(own);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? resolve(xdg) : join(homedir(), '.cache'), 'visual-peft');
}

const CACHE_SCHEMA = 'visual-peft-bench/checkpoint-sha256@1';
const cacheFile = () => join(cacheDir(), 'checkpoint-sha256.json');

interface CacheEntry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

/** The cache's entries by absolute path; an absent, unreadable or foreign file is an empty cache (it only saves time). */
async function readCache(): Promise<Record<string, CacheEntry>> {
  try {
    const parsed = JSON.parse(await readFile(cacheFile(), 'utf8')) as { schema?: unknown; entries?: unknown };
    return parsed.schema === CACHE_SCHEMA && parsed.entries !== null && typeof parsed.entries === 'object' ? (parsed.entries as Record<string, CacheEntry>) : {};
  } catch {
    return {};
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The SHA-256 of a checkpoint file's bytes, computed once per file and kept in the user cache under
 * its absolute path, size and modification time: a file replaced under the same name (another size or
 * mtime) is hashed again. A cache that cannot be written (read-only home) costs the next run a rehash,
 * nothing more.
 */
export async function checkpointSha256(path: string): Promise<string> {
  const absolute = resolve(path);
  const { size, mtimeMs } = await stat(absolute);
  const cached = (await readCache())[absolute];
  if (cached !== undefined && cached.size === size && cached.mtimeMs === mtimeMs && typeof cached.sha256 === 'string') return cached.sha256;
  const sha256 = await sha256OfFile(absolute);
  try {
    // Re-read just before writing, so entries another process added meanwhile are kept.
    const entries = { ...(await readCache()), [absolute]: { size, mtimeMs, sha256 } };
    await writeFileAtomic(cacheFile(), `${JSON.stringify({ schema: CACHE_SCHEMA, entries }, null, 1)}\n`);
  } catch {
    // The cache is an optimisation: the hash is right either way.
  }
  return sha256;
}

/** What identifies a task's data without reading it all: the files its splits read, by name and size. */
export interface DataFingerprint {
  /** Files the splits read: images, annotations, split lists, IDX files. */
  readonly files: number;
  /** Their total size in bytes. */
  readonly bytes: number;
  /** SHA-256 of the sorted `path<TAB>size` lines, paths relative to the data root. */
  readonly sha256: string;
}

/**
 * The fingerprint of the files a task's loaded splits read (not their contents: a dataset of
 * gigabytes is fingerprinted in the time of one `stat` per file). Paths are relative to `root`, so
 * the same data under another root (another machine's mount) fingerprints the same. An image
 * replaced by one of the same size is not noticed; a file added, removed, renamed or resized is.
 */
export async function dataFingerprint(root: string, splits: readonly (ClassificationSplit | SegmentationSplit)[]): Promise<DataFingerprint> {
  const paths = new Set<string>();
  for (const split of splits) {
    for (const example of split.examples) {
      paths.add(example.origin.file);
      if (typeof example.image === 'string') paths.add(example.image);
      if ('annotation' in example) paths.add(example.annotation);
    }
  }
  const base = resolve(root);
  const sorted = [...paths].map((path) => ({ path: resolve(path), name: relative(base, resolve(path)) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sizes: number[] = [];
  // A few stats at a time: a large dataset has tens of thousands of files.
  for (let start = 0; start < sorted.length; start += 64) {
    sizes.push(...(await Promise.all(sorted.slice(start, start + 64).map(async ({ path }) => (await stat(path)).size))));
  }
  const hash = createHash('sha256');
  sorted.forEach(({ name }, index) => hash.update(`${name}\t${sizes[index]!}\n`));
  return { files: sorted.length, bytes: sizes.reduce((sum, size) => sum + size, 0), sha256: hash.digest('hex') };
}

import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClassificationSplit, writeSyntheticDataset } from '@visual-peft/datasets';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheDir, checkpointSha256, dataFingerprint } from './input-identity';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-input-identity-'));
let saved: string | undefined;

beforeEach(() => {
  saved = process.env.VISUAL_PEFT_CACHE_DIR;
  process.env.VISUAL_PEFT_CACHE_DIR = mkdtempSync(join(directory, 'cache-'));
});
afterEach(() => {
  if (saved === undefined) delete process.env.VISUAL_PEFT_CACHE_DIR;
  else process.env.VISUAL_PEFT_CACHE_DIR = saved;
});

describe('checkpointSha256', () => {
  it('is the SHA-256 of the bytes, computed once per path, size and mtime and cached', async () => {
    const path = join(directory, 'weights.safetensors');
    writeFileSync(path, 'first weights');
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(await checkpointSha256(path)).toBe(sha('first weights'));
    const cache = join(cacheDir(), 'checkpoint-sha256.json');
    const stored = JSON.parse(readFileSync(cache, 'utf8'));
    expect(stored.entries[path]).toMatchObject({ size: 13, sha256: sha('first weights') });
    // The cache answers while size and mtime are unchanged: an entry edited by hand is what comes back.
    stored.entries[path].sha256 = 'f'.repeat(64);
    writeFileSync(cache, JSON.stringify(stored));
    expect(await checkpointSha256(path)).toBe('f'.repeat(64));
    // A file swapped under the same name (same size, new mtime) is hashed again.
    writeFileSync(path, 'other weights');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect(await checkpointSha256(path)).toBe(sha('other weights'));
  });

  it('hashes without a cache when the cache cannot be written', async () => {
    const path = join(directory, 'plain.safetensors');
    writeFileSync(path, 'bytes');
    // A cache "directory" that is a file: nothing can be written under it.
    const blocker = join(directory, 'blocker');
    writeFileSync(blocker, '');
    process.env.VISUAL_PEFT_CACHE_DIR = blocker;
    expect(await checkpointSha256(path)).toBe(createHash('sha256').update('bytes').digest('hex'));
  });
});

describe('dataFingerprint', () => {
  it('fingerprints the files a split reads by relative name and size: the same under another root, changed by a resized file', async () => {
    const root = join(directory, 'data-a');
    const synthetic = await writeSyntheticDataset('vtab-eurosat', root, { count: 4 });
    const splits = async (at: string) => [await loadClassificationSplit('vtab-eurosat', at, 'train800'), await loadClassificationSplit('vtab-eurosat', at, 'test')];
    const first = await dataFingerprint(root, await splits(root));
    // 4 train images and the train split file, 4 test images and the test split file.
    expect(first.files).toBe(10);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    const moved = join(directory, 'data-b');
    cpSync(root, moved, { recursive: true });
    expect(await dataFingerprint(moved, await splits(moved))).toEqual(first);
    writeFileSync(synthetic.images[0]!, Buffer.concat([readFileSync(synthetic.images[0]!), Buffer.from([0])]));
    const changed = await dataFingerprint(root, await splits(root));
    expect(changed.sha256).not.toBe(first.sha256);
    expect(changed.bytes).toBe(first.bytes + 1);
  });
});

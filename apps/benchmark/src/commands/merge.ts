import { cp, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { firstDifference } from '@visual-peft/training';
import { requireFlag } from '../args';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { lockOutput } from '../output-lock';
import type { ResultRecord } from '../suite/result-record';
import { SUITE_SCHEMA, STORE_LABELS, StoreMismatchError, readResults, readStoredSuite, storeHashes, writeResult, writeStoredSuite } from '../suite/result-store';
import type { StoredSuite } from '../suite/result-store';
import type { ResolvedSuite, SuiteMethod } from '../suite/suite-config';
import { canonicalJson, suiteHash } from '../suite/suite-config';

export const MERGE_USAGE = 'merge --out <dir> <shard dir> [<shard dir> ...]';

/**
 * Where two suites differ other than in which methods they list (a method both list must have the
 * same recipe), or null when they can share a store.
 */
function suiteDifference(there: ResolvedSuite, here: ResolvedSuite): string | null {
  const rest = (suite: ResolvedSuite) => ({ ...suite, methods: undefined });
  const found = firstDifference(rest(there), rest(here), '', STORE_LABELS);
  if (found !== null) return found;
  for (const method of here.methods) {
    const other = there.methods.find((candidate) => candidate.name === method.name);
    const differs = other === undefined ? null : firstDifference(other.recipe, method.recipe, `methods.${method.name}.recipe`, STORE_LABELS);
    if (differs !== null) return differs;
  }
  return null;
}

/**
 * Joins the result stores of a suite's shards into `--out`. Every shard (and `--out`, when it is a
 * store already) must hold the same suite configuration but for the methods it lists: stores that
 * ran other methods or variants of one suite (`sct` in one, `sct[selection=random]` in another) join
 * into a store of every method, whose `joined` hashes are theirs. A job found twice must have
 * identical records. Everything is checked before the first file is written, and each record is
 * written atomically.
 */
export async function merge(args: readonly string[], io: Io): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { out: { type: 'string' } }, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`merge: ${(error as Error).message.split('\n')[0]}`);
  }
  const out = resolve(requireFlag('merge', 'out', parsed.values.out));
  const shards = parsed.positionals.map((shard) => resolve(shard));
  if (shards.length === 0) throw new UsageError('merge: give at least one shard directory after --out <dir>');
  await lockOutput(out, 'merge', io);

  let reference: { dir: string; stored: StoredSuite } | null = null;
  const methods: SuiteMethod[] = [];
  const hashes = new Set<string>();
  const records = new Map<string, { dir: string; record: ResultRecord }>();
  const existing = await readStoredSuite(out);
  for (const dir of existing === null ? shards : [out, ...shards]) {
    const stored = await readStoredSuite(dir);
    if (stored === null) throw new StoreMismatchError(`merge: ${dir} is not a results store (no suite.json)`);
    if (reference === null) reference = { dir, stored };
    else if (stored.hash !== reference.stored.hash) {
      const difference = suiteDifference(reference.stored.suite, stored.suite);
      if (difference !== null) throw new StoreMismatchError(`merge: ${dir} holds another suite configuration than ${reference.dir} (${difference})`);
    }
    // Every method in the order first seen; a method two stores share has one recipe (checked above).
    for (const method of stored.suite.methods) if (!methods.some((seen) => seen.name === method.name)) methods.push(method);
    for (const hash of storeHashes(stored)) hashes.add(hash);
    for (const [id, record] of await readResults(dir, storeHashes(stored))) {
      const seen = records.get(id);
      if (seen === undefined) records.set(id, { dir, record });
      else if (canonicalJson(seen.record) !== canonicalJson(record)) {
        throw new StoreMismatchError(`merge: job ${id} differs between ${seen.dir} and ${dir} (${firstDifference(seen.record, record, '', STORE_LABELS)})`);
      }
    }
  }
  const suite: ResolvedSuite = { ...reference!.stored.suite, methods };
  const hash = suiteHash(suite);
  hashes.delete(hash);
  const stored: StoredSuite = { schema: SUITE_SCHEMA, hash, suite, ...(hashes.size === 0 ? {} : { joined: [...hashes].sort() }) };
  // suite.json first: a merge stopped half-way leaves a store that reads, and merging again completes it.
  if (existing === null || canonicalJson(existing) !== canonicalJson(stored)) await writeStoredSuite(out, stored);
  const inOut = existing === null ? new Set<string>() : new Set((await readResults(out, storeHashes(stored))).keys());
  let added = 0;
  for (const [id, { dir, record }] of records) {
    if (inOut.has(id)) continue;
    // A record's kept weights travel with it, whole before the record that points at them.
    if (record.weights !== undefined) {
      const partial = join(out, `${record.weights}.partial`);
      await rm(partial, { recursive: true, force: true });
      await cp(join(dir, record.weights), partial, { recursive: true });
      await rm(join(out, record.weights), { recursive: true, force: true });
      await rename(partial, join(out, record.weights));
    }
    await writeResult(out, record);
    added += 1;
  }
  io.stdout(JSON.stringify({ out, hash, shards: shards.length, records: records.size, added }));
}

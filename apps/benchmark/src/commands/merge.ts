import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { requireFlag } from '../args';
import { UsageError } from '../errors';
import type { Io } from '../io';
import type { ResultRecord } from '../suite/result-record';
import { StoreMismatchError, firstDifference, openStore, readResults, readStoredSuite, writeResult } from '../suite/result-store';
import type { StoredSuite } from '../suite/result-store';
import { canonicalJson } from '../suite/suite-config';

export const MERGE_USAGE = 'merge --out <dir> <shard dir> [<shard dir> ...]';

/**
 * Joins the result stores of a suite's shards into `--out`. Every shard (and `--out`, when it is a
 * store already) must hold the same suite configuration; a job found twice must have identical
 * records. Everything is checked before the first file is written, and each record is written
 * atomically.
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

  let reference: { dir: string; stored: StoredSuite } | null = null;
  const records = new Map<string, { dir: string; record: ResultRecord }>();
  const existing = await readStoredSuite(out);
  for (const dir of existing === null ? shards : [out, ...shards]) {
    const stored = await readStoredSuite(dir);
    if (stored === null) throw new StoreMismatchError(`merge: ${dir} is not a results store (no suite.json)`);
    if (reference === null) reference = { dir, stored };
    else if (stored.hash !== reference.stored.hash) {
      const difference = firstDifference(reference.stored.suite, stored.suite) ?? `hash: ${reference.stored.hash} there, ${stored.hash} here`;
      throw new StoreMismatchError(`merge: ${dir} holds another suite configuration than ${reference.dir} (${difference})`);
    }
    for (const [id, record] of await readResults(dir, stored.hash)) {
      const seen = records.get(id);
      if (seen === undefined) records.set(id, { dir, record });
      else if (canonicalJson(seen.record) !== canonicalJson(record)) {
        throw new StoreMismatchError(`merge: job ${id} differs between ${seen.dir} and ${dir} (${firstDifference(seen.record, record)})`);
      }
    }
  }
  const { stored } = reference!;
  await openStore(out, stored.suite, stored.hash);
  const inOut = existing === null ? new Set<string>() : new Set((await readResults(out, stored.hash)).keys());
  let added = 0;
  for (const [id, { record }] of records) {
    if (inOut.has(id)) continue;
    await writeResult(out, record);
    added += 1;
  }
  io.stdout(JSON.stringify({ out, hash: stored.hash, shards: shards.length, records: records.size, added }));
}

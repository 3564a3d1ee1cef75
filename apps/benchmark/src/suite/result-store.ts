import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DifferenceLabels } from '@visual-peft/training';
import { firstDifference } from '@visual-peft/training';
import { FormatError, VisualPeftError, writeFileAtomic } from '@visual-peft/vit-core';
import type { ResultRecord } from './result-record';
import { validateResultRecord } from './validate-record';
import type { ResolvedSuite } from './suite-config';

/** Version tag of `<out>/suite.json`. */
export const SUITE_SCHEMA = 'visual-peft-bench/suite@1';

/** `<out>/suite.json`: the resolved suite a store holds results of, and its hash. */
export interface StoredSuite {
  readonly schema: typeof SUITE_SCHEMA;
  readonly hash: string;
  readonly suite: ResolvedSuite;
  /**
   * Hashes of stores `merge` joined into this one that ran other methods (variants) of the same
   * suite: their records keep the hash they were run under. Absent when there were none.
   */
  readonly joined?: readonly string[];
}

/** The suite hashes a store's records may carry: its own and those of the stores merged into it. */
export const storeHashes = (stored: StoredSuite): readonly string[] => [stored.hash, ...(stored.joined ?? [])];

/** An output directory holds results of another configuration (or is not a store). */
export class StoreMismatchError extends VisualPeftError {}

export const suiteFile = (out: string) => join(out, 'suite.json');
export const resultsDir = (out: string) => join(out, 'results');
export const resultFile = (out: string, id: string) => join(resultsDir(out), `${id}.json`);

/** How a store's records and suites are compared (`firstDifference`): `path: A there, B here`, the stored one first. */
export const STORE_LABELS: DifferenceLabels = { saved: 'there', current: 'here', whole: 'the record' };

async function readJson(path: string): Promise<unknown | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError(path, `not valid JSON (${(error as Error).message})`);
  }
}

/** The suite a store was made for, or null when `out` holds none yet. */
export async function readStoredSuite(out: string): Promise<StoredSuite | null> {
  const stored = (await readJson(suiteFile(out))) as StoredSuite | null;
  if (stored === null) return null;
  if (stored.schema !== SUITE_SCHEMA || typeof stored.hash !== 'string') throw new FormatError(suiteFile(out), `must be a ${SUITE_SCHEMA} file with a hash`);
  return stored;
}

/**
 * Makes `out` the store of this suite: a new directory gets `suite.json`; one made for the same
 * configuration is reused as it is; one made for another refuses with the first differing field,
 * before anything is written.
 */
export async function openStore(out: string, suite: ResolvedSuite, hash: string): Promise<readonly string[]> {
  const stored = await readStoredSuite(out);
  if (stored !== null) {
    if (stored.hash === hash) return storeHashes(stored);
    const difference = firstDifference(stored.suite, JSON.parse(JSON.stringify(suite)), '', STORE_LABELS) ?? `hash: ${stored.hash} there, ${hash} here`;
    throw new StoreMismatchError(`--out ${out} holds results of another suite configuration (${difference}); give a new --out or run that configuration`);
  }
  const record: StoredSuite = { schema: SUITE_SCHEMA, hash, suite };
  await writeStoredSuite(out, record);
  return [hash];
}

/** Writes (or replaces) `<out>/suite.json` atomically, making the results folder. */
export async function writeStoredSuite(out: string, stored: StoredSuite): Promise<void> {
  await mkdir(resultsDir(out), { recursive: true });
  await writeFileAtomic(suiteFile(out), `${JSON.stringify(stored, null, 2)}\n`);
}

/** `hashes`: the store's own hash, or every hash its records may carry (`storeHashes`). */
function checkRecord(path: string, value: unknown, hashes: string | readonly string[]): ResultRecord {
  const record = validateResultRecord(value, path);
  const accepted = typeof hashes === 'string' ? [hashes] : hashes;
  if (!accepted.includes(record.suiteHash)) throw new FormatError(path, `belongs to suite ${record.suiteHash}, not ${accepted.join(' or ')}`);
  return record;
}

/** A finished job's record, or null when the job has not finished. */
export async function readResult(out: string, id: string, hash: string | readonly string[]): Promise<ResultRecord | null> {
  const path = resultFile(out, id);
  const record = await readJson(path);
  return record === null ? null : checkRecord(path, record, hash);
}

/** Every record of a store, by job id. */
export async function readResults(out: string, hash: string | readonly string[]): Promise<Map<string, ResultRecord>> {
  const records = new Map<string, ResultRecord>();
  let names: string[];
  try {
    names = await readdir(resultsDir(out));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return records;
    throw error;
  }
  for (const name of names.filter((entry) => entry.endsWith('.json') && !entry.startsWith('.')).sort()) {
    const path = join(resultsDir(out), name);
    const record = checkRecord(path, await readJson(path), hash);
    if (`${record.job.id}.json` !== name) throw new FormatError(path, `holds job ${record.job.id}, not ${name.slice(0, -5)}`);
    records.set(record.job.id, record);
  }
  return records;
}

/** Stores a finished job at once, atomically: a kill leaves either no file or the whole record. */
export async function writeResult(out: string, record: ResultRecord): Promise<void> {
  await writeFileAtomic(resultFile(out, record.job.id), `${JSON.stringify(record, null, 2)}\n`);
}

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultRecord } from '../suite/result-record';
import { resultsDir } from '../suite/result-store';
import { ResultFileError, validateResultRecord } from '../suite/validate-record';

/**
 * Reads and checks every record of `<out>/results`, sorted by job id. Hidden files are skipped: they
 * are atomic writes in progress. A missing or empty store is an error (with `allowEmpty`, no
 * records), as is any bad file.
 */
export async function readResults(out: string, options: { readonly allowEmpty?: boolean } = {}): Promise<ResultRecord[]> {
  const directory = resultsDir(out);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (options.allowEmpty === true) return [];
    throw new ResultFileError(directory, 'results directory', `does not exist: run \`visual-peft-bench run --out ${out}\` first`);
  }
  const files = names.filter((name) => name.endsWith('.json') && !name.startsWith('.')).sort();
  if (files.length === 0 && options.allowEmpty !== true) throw new ResultFileError(directory, 'results directory', 'holds no result files (<job id>.json)');
  const records: ResultRecord[] = [];
  for (const name of files) {
    const file = join(directory, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new ResultFileError(file, 'JSON', `does not parse: ${(error as Error).message}`);
    }
    records.push(validateResultRecord(parsed, file));
  }
  return records;
}

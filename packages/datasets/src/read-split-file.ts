import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ProblemHandler } from './dataset-error';
import { DatasetError, throwProblem } from './dataset-error';

/** What every loader accepts. */
export interface DatasetLoadOptions {
  /**
   * Receives each problem found (missing file, bad line, label out of range, missing image).
   * Default: throw it, so a load either succeeds whole or names the first problem. The dataset
   * check collects them instead; entries with problems are then left out.
   */
  readonly onProblem?: ProblemHandler;
  /** Check that every listed image exists. Default true. */
  readonly checkFiles?: boolean;
}

export function resolveLoadOptions(options: DatasetLoadOptions = {}): Required<DatasetLoadOptions> {
  return { onProblem: options.onProblem ?? throwProblem, checkFiles: options.checkFiles ?? true };
}

/** The text of a split file, or null (after reporting) when it is missing. */
export async function readSplitFile(file: string, what: string, onProblem: ProblemHandler): Promise<string | null> {
  if (!existsSync(file)) {
    onProblem(new DatasetError(file, `missing split file (${what})`));
    return null;
  }
  return readFile(file, 'utf8');
}

/** Reports a listed image that is not on disk; true when it is there (or checks are off). */
export function checkImageExists(image: string, file: string, line: number | undefined, options: Required<DatasetLoadOptions>): boolean {
  if (!options.checkFiles || existsSync(image)) return true;
  options.onProblem(new DatasetError(file, `image ${image} does not exist`, line));
  return false;
}

import { resolve } from 'node:path';
import { checkDataset } from '@visual-peft/datasets';
import { VisualPeftError } from '@visual-peft/vit-core';
import { choiceFlag, datasetFlag, integerFlag, parseCommandArgs, requireFlag } from '../args';
import type { Io } from '../io';
import { valFractionFlag } from './train';

export const DATA_USAGE = 'data --dataset <cub | nabirds | oxford-flowers | stanford-dogs | stanford-cars | vtab-<task> | ade20k | fashion-mnist | image-folder> --root <dir> [--decode full|header|none] [--val-fraction f --seed n]';

const DECODE_MODES = ['full', 'header', 'none'] as const;

/** The check ran and found problems: the JSON on stdout lists them. */
export class DatasetProblemsError extends VisualPeftError {}

/**
 * Checks a dataset before a long run and prints one JSON object: image count per split, class count,
 * and every problem found (split files, labels, missing or undecodable images, annotations). Exits 1
 * when there are problems, so a script can stop before training. An image folder is checked as its
 * train and val splits where it has them (a `val/` folder, or `--val-fraction` drawn with `--seed` as
 * `train` draws it).
 */
export async function data(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('data', args, { dataset: { type: 'string' }, root: { type: 'string' }, decode: { type: 'string' }, 'val-fraction': { type: 'string' }, seed: { type: 'string' } });
  const name = datasetFlag('data', flags.dataset);
  const root = resolve(requireFlag('data', 'root', flags.root));
  const decode = choiceFlag('decode', flags.decode ?? 'full', DECODE_MODES);
  const valFraction = valFractionFlag(flags['val-fraction'], name);
  const seed = integerFlag('seed', flags.seed, 0);
  const report = await checkDataset(name, root, { decode, ...(valFraction === undefined ? {} : { valFraction }), ...(seed === undefined ? {} : { seed }) });
  io.stdout(JSON.stringify(report));
  if (report.problems.length > 0) {
    throw new DatasetProblemsError(`data: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${root} (listed in the JSON on stdout)`);
  }
}

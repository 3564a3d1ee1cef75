import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@visual-peft/vit-core';
import { parseCommandArgs, requireFlag } from '../args';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { lockOutput } from '../output-lock';
import { tableToMarkdown } from '../report/format-tables';
import { comparePaper, paperComparisonMarkdown } from '../report/paper-report';
import { readResults } from '../report/read-results';
import { readStoredSuite } from '../suite/result-store';
import { readSuitePaper } from '../suite/suite-config';
import { writeReport } from '../report/write-report';

export const REPORT_USAGE =
  'report --out <dir> [--suite <suite file with paper: numbers>]   (reads <dir>/results, writes <dir>/report/: report.md, report.json, tables/*.csv, plots/*.svg and *.png, and paper.md with --suite)';

/**
 * Writes the report of a results store: the papers' tables (Markdown, CSV, JSON) and the plots (SVG,
 * PNG). The tables also go to stdout; where the files went goes to stderr. With `--suite`, the suite
 * file's `paper:` table is printed in the paper's layout beside ours (and written to paper.md).
 */
export async function report(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('report', args, { out: { type: 'string' }, suite: { type: 'string' } });
  const out = resolve(requireFlag('report', 'out', flags.out));
  const paperSuite = flags.suite === undefined ? null : await readSuitePaper(flags.suite);
  if (paperSuite !== null && paperSuite.paper === null) throw new UsageError(`report --suite ${flags.suite}: the suite file has no paper: block to compare with`);
  await lockOutput(out, 'report', io);
  const written = await writeReport(out);
  for (const table of written.tables) io.stdout(tableToMarkdown(table));
  if (paperSuite !== null && paperSuite.paper !== null) {
    const stored = await readStoredSuite(out);
    if (stored !== null && stored.suite.suite !== paperSuite.suite) throw new UsageError(`report --suite ${flags.suite}: a ${paperSuite.suite} suite, but --out holds a ${stored.suite.suite} store`);
    const comparisons = comparePaper(paperSuite.paper, paperSuite.tasks, await readResults(out));
    const markdown = comparisons.map(paperComparisonMarkdown).join('\n');
    io.stdout(markdown);
    await mkdir(written.directory, { recursive: true });
    await writeFileAtomic(join(written.directory, 'paper.md'), `# The paper's numbers beside ours\n\n${markdown}`);
  }
  io.stderr(
    `report: ${written.records} results, ${written.tables.length} table${written.tables.length === 1 ? '' : 's'}, ${written.plots.length} plots` +
      `${written.skipped.length > 0 ? ` (${written.skipped.length} skipped for lack of data, listed in report.md)` : ''} in ${written.directory}`,
  );
}

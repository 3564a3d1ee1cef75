import { resolve } from 'node:path';
import { parseCommandArgs, requireFlag } from '../args';
import type { Io } from '../io';
import { tableToMarkdown } from '../report/format-tables';
import { writeReport } from '../report/write-report';

export const REPORT_USAGE = 'report --out <dir>   (reads <dir>/results, writes <dir>/report/: report.md, report.json, tables/*.csv, plots/*.svg and *.png)';

/**
 * Writes the report of a results store: the papers' tables (Markdown, CSV, JSON) and the plots (SVG,
 * PNG). The tables also go to stdout; where the files went goes to stderr.
 */
export async function report(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('report', args, { out: { type: 'string' } });
  const out = resolve(requireFlag('report', 'out', flags.out));
  const written = await writeReport(out);
  for (const table of written.tables) io.stdout(tableToMarkdown(table));
  io.stderr(
    `report: ${written.records} results, ${written.tables.length} table${written.tables.length === 1 ? '' : 's'}, ${written.plots.length} plots` +
      `${written.skipped.length > 0 ? ` (${written.skipped.length} skipped for lack of data, listed in report.md)` : ''} in ${written.directory}`,
  );
}

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@visual-peft/vit-core';
import sharp from 'sharp';
import { suiteJobs } from '../suite/job-list';
import type { ResultRecord } from '../suite/result-record';
import { readStoredSuite } from '../suite/result-store';
import { tableToCsv, tableToMarkdown } from './format-tables';
import type { SkippedPlot } from './plan-plots';
import { planReportPlots } from './plan-plots';
import { readResults } from './read-results';
import type { ResultTable } from './result-tables';
import { buildResultTables } from './result-tables';
import type { ChartSpec } from './svg-chart';
import { renderChart } from './svg-chart';

/** Version tag of report.json. */
export const REPORT_SCHEMA = 'visual-peft-bench/report@1';

/** PNGs are rasterised at twice the SVG's size, for sharp text on high-density screens. */
const PNG_SCALE = 2;

export interface WrittenPlot {
  readonly name: string;
  readonly title: string;
  /** Paths relative to the report directory. */
  readonly svg: string;
  readonly png: string;
  readonly chart: ChartSpec;
}

export interface Report {
  readonly directory: string;
  readonly records: number;
  readonly tables: readonly ResultTable[];
  readonly plots: readonly WrittenPlot[];
  readonly skipped: readonly SkippedPlot[];
  /** The Markdown report's text (also report.md). */
  readonly markdown: string;
}

/** The PNG of an SVG, through sharp's SVG renderer (librsvg). */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * PNG_SCALE })
    .png()
    .toBuffer();
}

function tableFileStem(table: ResultTable): string {
  return `${table.suite}-${table.backbone}`.toLowerCase().replace(/[^a-z0-9.]+/g, '-');
}

function markdownLink(text: string, target: string): string {
  return `[${text.replace(/[[\]]/g, '\\$&')}](${encodeURI(target)})`;
}

function reportMarkdown(records: readonly ResultRecord[], tables: readonly ResultTable[], plots: readonly WrittenPlot[], skipped: readonly SkippedPlot[]): string {
  const lines = ['# visual-peft-bench report', '', `${records.length} results, ${tables.length} table${tables.length === 1 ? '' : 's'}.`, ''];
  for (const table of tables) lines.push(tableToMarkdown(table), `CSV: ${markdownLink(`tables/${tableFileStem(table)}.csv`, `tables/${tableFileStem(table)}.csv`)}`, '');
  lines.push('## Plots', '');
  for (const plot of plots) lines.push(`### ${plot.title}`, '', `![${plot.title.replace(/[[\]]/g, '')}](${encodeURI(plot.png)})`, '', `SVG: ${markdownLink(plot.svg, plot.svg)}`, '');
  if (skipped.length > 0) {
    lines.push('### Not drawn', '');
    for (const entry of skipped) lines.push(`- ${entry.plot}: ${entry.reason}.`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * Reads `<out>/results` and writes `<out>/report/`: report.md (tables and linked plots), one CSV per
 * table under tables/, each plot as SVG and PNG under plots/, and report.json with the same numbers.
 * Every file is written atomically.
 */
export async function writeReport(out: string): Promise<Report> {
  const records = await readResults(out);
  // `run` and `merge` store the suite beside its results: its plan says which jobs are still missing.
  const stored = await readStoredSuite(out);
  const tables = buildResultTables(records, stored === null ? null : { suite: stored.suite.suite, jobs: suiteJobs(stored.suite) });
  const directory = join(out, 'report');
  await mkdir(join(directory, 'tables'), { recursive: true });
  await mkdir(join(directory, 'plots'), { recursive: true });
  for (const table of tables) await writeFileAtomic(join(directory, 'tables', `${tableFileStem(table)}.csv`), tableToCsv(table));

  const plots: WrittenPlot[] = [];
  const { plots: planned, skipped } = planReportPlots(tables, records);
  for (const plot of planned) {
    const svg = renderChart(plot.chart);
    const written: WrittenPlot = { name: plot.name, title: plot.chart.title, svg: `plots/${plot.name}.svg`, png: `plots/${plot.name}.png`, chart: plot.chart };
    await writeFileAtomic(join(directory, written.svg), svg);
    await writeFileAtomic(join(directory, written.png), await svgToPng(svg));
    plots.push(written);
  }

  const markdown = reportMarkdown(records, tables, plots, skipped);
  await writeFileAtomic(join(directory, 'report.md'), markdown);
  const json = { schema: REPORT_SCHEMA, records: records.length, tables, plots, skippedPlots: skipped };
  await writeFileAtomic(join(directory, 'report.json'), `${JSON.stringify(json, null, 2)}\n`);
  return { directory, records: records.length, tables, plots, skipped, markdown };
}

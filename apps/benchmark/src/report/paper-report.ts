import type { PaperTable } from '../suite/paper-table';
import { PAPER_MEAN_COLUMN } from '../suite/paper-table';
import type { ResultRecord } from '../suite/result-record';
import type { SuiteTask } from '../suite/suite-config';

/** One cell of a paper-layout table: our mean over seeds (percent), the paper's number, their difference. */
export interface PaperCell {
  readonly ours: number | null;
  readonly paper: number | null;
  readonly difference: number | null;
}

export interface PaperComparison {
  readonly source: string;
  readonly backbone: string;
  readonly metric: 'top1' | 'mIoU';
  readonly columns: readonly string[];
  readonly rows: readonly { readonly method: string; readonly label: string; readonly run: boolean; readonly cells: Readonly<Record<string, PaperCell>> }[];
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/**
 * The paper's table beside ours, per backbone of the store: a task column is the mean over seeds, a
 * group column the mean of its tasks' means and `mean` the mean over every task of the suite (as the
 * papers average VTAB-1k over its 19 tasks), each only when every task it needs has a result.
 */
export function comparePaper(paper: PaperTable, tasks: readonly SuiteTask[], records: readonly ResultRecord[]): PaperComparison[] {
  const backbones = [...new Set(records.map((record) => record.job.backbone))].sort();
  if (backbones.length === 0) backbones.push('(no results)');
  const metric = tasks.some((task) => task.dataset === 'ade20k') ? 'mIoU' : 'top1';
  return backbones.map((backbone) => {
    const own = records.filter((record) => record.job.backbone === backbone);
    const taskMean = (method: string, task: string): number | null => {
      const values = own.filter((record) => record.job.method === method && record.job.task === task).map((record) => record.metric.value * 100);
      return values.length === 0 ? null : mean(values);
    };
    const columnValue = (method: string, column: string): number | null => {
      const needed = column === PAPER_MEAN_COLUMN ? tasks : tasks.filter((task) => task.task === column || task.group === column);
      const values = needed.map((task) => taskMean(method, task.task));
      return values.some((value) => value === null) ? null : mean(values as number[]);
    };
    const rows = paper.rows.map((row) => {
      const cells: Record<string, PaperCell> = {};
      for (const column of paper.columns) {
        const ours = columnValue(row.method, column);
        const reported = row.values[column] ?? null;
        cells[column] = { ours, paper: reported, difference: ours === null || reported === null ? null : ours - reported };
      }
      return { method: row.method, label: row.label, run: own.some((record) => record.job.method === row.method), cells };
    });
    return { source: paper.source, backbone, metric, columns: paper.columns, rows };
  });
}

function formatCell(cell: PaperCell, run: boolean): string {
  const reported = cell.paper === null ? 'not reported' : cell.paper.toFixed(2);
  if (!run) return `not run / ${reported}`;
  if (cell.ours === null) return `– / ${reported}`;
  const difference = cell.difference === null ? '' : ` (${cell.difference >= 0 ? '+' : '−'}${Math.abs(cell.difference).toFixed(2)})`;
  return `${cell.ours.toFixed(2)} / ${reported}${difference}`;
}

/** The comparison as Markdown, in the paper's row and column order: "ours / paper (ours − paper)" per cell. */
export function paperComparisonMarkdown(comparison: PaperComparison): string {
  const header = ['Method (paper label)', ...comparison.columns];
  return [
    `### ${comparison.source}, backbone ${comparison.backbone}: ours / paper (difference), ${comparison.metric === 'mIoU' ? 'mIoU' : 'top-1 accuracy'} (%)`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
    ...comparison.rows.map((row) => `| ${row.method} (${row.label}) | ${comparison.columns.map((column) => formatCell(row.cells[column]!, row.run)).join(' | ')} |`),
    '',
  ].join('\n');
}

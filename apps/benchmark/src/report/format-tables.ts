import type { CellStats, ResultTable } from './result-tables';

/** How a cell without a result reads in the Markdown tables. */
export const MISSING = '–';

function formatCell(cell: CellStats): string {
  if (cell.mean === null) return MISSING;
  return cell.std === null ? cell.mean.toFixed(1) : `${cell.mean.toFixed(1)} ± ${cell.std.toFixed(1)}`;
}

/** Two decimals from 1 up; below, three significant digits, so a tiny model's 0.000370 M does not read 0.000. */
function formatSmall(value: number | null): string {
  if (value === null) return MISSING;
  return value >= 1 || value === 0 ? value.toFixed(2) : value.toPrecision(3);
}

/** A pipe or a line break inside a Markdown cell would break the table. */
function markdownCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** What the metric's cells hold, for headings. */
function metricName(table: ResultTable): string {
  return table.metric === 'mIoU' ? 'mIoU (%)' : 'top-1 accuracy (%)';
}

/** The table as Markdown: a heading, the layout's columns, the trainable parameters and a note on what is missing. */
export function tableToMarkdown(table: ResultTable): string {
  const header = ['Method', ...table.columns.map((column) => column.label), 'Params (M)', 'Params (%)'];
  const lines = [
    `### ${table.title}: ${metricName(table)}`,
    '',
    `| ${header.map(markdownCell).join(' | ')} |`,
    `| ${header.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
    ...table.rows.map(
      (row) =>
        `| ${[row.method, ...table.columns.map((column) => formatCell(row.cells[column.key]!)), formatSmall(row.trainableMillions), formatSmall(row.trainablePercent)]
          .map(markdownCell)
          .join(' | ')} |`,
    ),
    '',
  ];
  const seeds = table.seeds.length === 1 ? `seed ${table.seeds[0]}` : `mean ± std (n - 1) over seeds ${table.seeds.join(', ')}`;
  lines.push(
    `${seeds}. Params: trainable parameters (head included) in millions and as % of the backbone's, mean over the row's tasks.` +
      (table.columns.some((column) => column.kind !== 'task') ? ' Means are over per-task means and shown only when every task they cover has a result.' : ''),
  );
  const jobs = table.plannedJobs ? "jobs of the suite" : 'jobs (methods x tasks x seeds)';
  lines.push(
    table.missingJobs === 0
      ? `All ${table.expectedJobs} ${jobs} have a result.`
      : `${table.missingJobs} of ${table.expectedJobs} ${jobs} have no result yet; their cells read ${MISSING}.`,
  );
  lines.push(table.environments.length === 0 ? 'No result yet.' : `Produced on: ${table.environments.join('; ')}.`, '');
  return lines.join('\n');
}

/** RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes. */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const csvNumber = (value: number | null, digits: number) => (value === null ? '' : value.toFixed(digits));

/**
 * The table as CSV, for spreadsheets: the same layout, a std column after each task, numbers in
 * percent without units, an empty field where there is no result.
 */
export function tableToCsv(table: ResultTable): string {
  const header = ['method'];
  for (const column of table.columns) header.push(column.label, ...(column.kind === 'task' ? [`${column.label} std`] : []));
  header.push('params (M)', 'params (%)');
  const rows = table.rows.map((row) => {
    const fields = [row.method];
    for (const column of table.columns) {
      const cell = row.cells[column.key]!;
      fields.push(csvNumber(cell.mean, 2), ...(column.kind === 'task' ? [csvNumber(cell.std, 2)] : []));
    }
    fields.push(csvNumber(row.trainableMillions, 4), csvNumber(row.trainablePercent, 4));
    return fields;
  });
  return `${[header, ...rows].map((fields) => fields.map(csvField).join(',')).join('\r\n')}\r\n`;
}

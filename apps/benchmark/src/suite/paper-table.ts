import type { Json } from './field-reader';
import { FieldReader } from './field-reader';
import type { TaskGroup } from './result-record';
import type { SuiteTask } from './suite-config';

/** Columns a paper table may have besides the suite's tasks: VTAB-1k's groups (mean of the group's tasks) and the mean over every task. */
export const PAPER_GROUP_COLUMNS: readonly TaskGroup[] = ['natural', 'specialized', 'structured'];
export const PAPER_MEAN_COLUMN = 'mean';

/** One row of a paper's table: the suite method it maps to, the paper's label and its reported numbers (percent, as printed). */
export interface PaperRow {
  readonly method: string;
  readonly label: string;
  /** Column -> the paper's number; a column the paper leaves empty (or the source lost) is absent. */
  readonly values: Readonly<Record<string, number>>;
}

/**
 * A suite file's `paper:` block: the numbers one table of a paper reports for the suite's methods,
 * with where they come from. Not part of the suite's hash: it decides no result, only the report.
 */
export interface PaperTable {
  /** Paper and table, e.g. "GatedPT (ICML 2023, arXiv 2306.05067), Table 1, MAE rows". */
  readonly source: string;
  /** The table's columns in the paper's order: tasks of the suite, VTAB-1k groups, or `mean`. */
  readonly columns: readonly string[];
  readonly rows: readonly PaperRow[];
}

const PAPER_KEYS = ['source', 'columns', 'rows'] as const;
const ROW_KEYS = ['method', 'label', 'values'] as const;

/**
 * Checks a `paper:` block against the suite it sits in: columns are the suite's tasks, groups its
 * tasks fall in, or `mean`; rows name the suite's methods (each once); values are percentages.
 */
export function readPaperTable(reader: FieldReader, value: Json, tasks: readonly SuiteTask[], methods: readonly string[]): PaperTable {
  const raw = reader.record('paper', value, PAPER_KEYS);
  const source = reader.string('paper.source', raw.source);
  const groups = PAPER_GROUP_COLUMNS.filter((group) => tasks.some((task) => task.group === group));
  const allowed = [...tasks.map((task) => task.task), ...groups, PAPER_MEAN_COLUMN];
  const columns = reader.unique(
    'paper.columns',
    reader.list('paper.columns', raw.columns).map((column, index) => reader.string(`paper.columns[${index}]`, column, allowed)),
  );
  const rows = reader.list('paper.rows', raw.rows).map((entry, index): PaperRow => {
    const field = `paper.rows[${index}]`;
    const row = reader.record(field, entry, ROW_KEYS);
    const method = reader.string(`${field}.method`, row.method, methods);
    const label = reader.string(`${field}.label`, row.label);
    const cells = reader.record(`${field}.values`, row.values, columns);
    const values: Record<string, number> = {};
    for (const [column, cell] of Object.entries(cells)) values[column] = reader.number(`${field}.values.${column}`, cell, (v) => v >= 0 && v <= 100, 'a percentage in [0, 100]');
    if (Object.keys(values).length === 0) reader.fail(`${field}.values`, row.values, 'must give at least one number');
    return { method, label, values };
  });
  reader.unique(
    'paper.rows (methods)',
    rows.map((row) => row.method),
  );
  return { source, columns, rows };
}

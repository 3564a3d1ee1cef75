import { FGVC_DATASETS, VTAB_TASKS } from '@visual-peft/datasets';
import { METHODS } from '../methods';
import type { JobKey, ResultRecord, SuiteName } from '../suite/result-record';

/** A cell over seeds, in percent. `mean` null: no result (never filled in); `std` null: fewer than two seeds. */
export interface CellStats {
  readonly mean: number | null;
  readonly std: number | null;
  readonly seeds: number;
}

export interface TableColumn {
  readonly key: string;
  readonly label: string;
  /** A task; a group's mean over its tasks; the mean over tasks; the mean of the group means. */
  readonly kind: 'task' | 'group-mean' | 'mean' | 'mean-of-group-means';
}

export interface TableRow {
  readonly method: string;
  /** By column key. */
  readonly cells: Readonly<Record<string, CellStats>>;
  /** Trainable parameters (head included) in millions, mean over this row's jobs; null without any. */
  readonly trainableMillions: number | null;
  /** Trainable parameters as a percentage of the backbone's own (head and method modules excluded). */
  readonly trainablePercent: number | null;
}

/** One table of the papers' layout: one suite, one backbone, methods as rows. */
export interface ResultTable {
  readonly suite: SuiteName;
  readonly backbone: string;
  readonly title: string;
  /** 'top1' (accuracy, %) or 'mIoU' (%). */
  readonly metric: string;
  readonly columns: readonly TableColumn[];
  readonly rows: readonly TableRow[];
  /** Seeds of this table's jobs. */
  readonly seeds: readonly number[];
  /**
   * Jobs the table stands for: the suite's planned jobs of this backbone (from `<out>/suite.json`)
   * when known, else its methods x tasks x seeds; and how many of them have no result.
   */
  readonly expectedJobs: number;
  readonly missingJobs: number;
  /** Whether expectedJobs counts the suite's planned jobs (true) or the methods x tasks x seeds seen (false). */
  readonly plannedJobs: boolean;
  /** The column whose value a method's summary point uses (accuracy versus parameters). */
  readonly headlineColumn: string;
  /** Distinct backend, device and version lines that produced the numbers. */
  readonly environments: readonly string[];
}

const GROUP_TITLES = { natural: 'Natural', specialized: 'Specialized', structured: 'Structured' } as const;
type VtabGroupName = keyof typeof GROUP_TITLES;

/** A task's name in the suites' own terms: `vtab-cifar` and `cifar` are the same VTAB-1k task. */
export function taskName(suite: SuiteName, task: string): string {
  return suite === 'vtab-1k' ? task.replace(/^vtab-/, '') : task;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Sample standard deviation (n - 1), as over seeds; null for fewer than two values. */
export function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const average = mean(values);
  return Math.sqrt(values.reduce((sum, value) => sum + (value - average) ** 2, 0) / (values.length - 1));
}

/** The mean of cells that are all present, else missing: a partial average would be a made-up number. */
function meanOfCells(cells: readonly CellStats[]): CellStats {
  if (cells.length === 0 || cells.some((cell) => cell.mean === null)) return { mean: null, std: null, seeds: 0 };
  return { mean: mean(cells.map((cell) => cell.mean!)), std: null, seeds: Math.min(...cells.map((cell) => cell.seeds)) };
}

/**
 * Methods in the app's order (policies, then each package's), unknown names after, alphabetically;
 * a variant (`sct[selection=random]`) right after its base, variants of one base alphabetically.
 */
function methodOrder(methods: Iterable<string>): string[] {
  const known = [...METHODS.keys()];
  const rank = (method: string) => {
    const base = method.split('[')[0]!;
    return known.includes(base) ? known.indexOf(base) : known.length;
  };
  return [...new Set(methods)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The task columns of a suite: the paper's fixed list (plus any other task present), or the tasks present. */
function taskColumns(suite: SuiteName, present: readonly string[]): string[] {
  const layout: readonly string[] = suite === 'fgvc' ? Object.keys(FGVC_DATASETS) : suite === 'vtab-1k' ? Object.keys(VTAB_TASKS) : [];
  return [...layout, ...[...new Set(present)].filter((task) => !layout.includes(task)).sort()];
}

function vtabGroup(task: string, records: readonly ResultRecord[]): VtabGroupName | null {
  const known = (VTAB_TASKS as Record<string, { group: VtabGroupName } | undefined>)[task];
  if (known !== undefined) return known.group;
  const recorded = records.find((record) => taskName('vtab-1k', record.job.task) === task)?.job.group;
  return recorded !== undefined && recorded in GROUP_TITLES ? (recorded as VtabGroupName) : null;
}

function columnsFor(suite: SuiteName, tasks: readonly string[], records: readonly ResultRecord[]): { columns: TableColumn[]; headline: string } {
  const taskColumn = (task: string): TableColumn => ({ key: task, label: suite === 'fgvc' ? (FGVC_DATASETS as Record<string, { title: string }>)[task]?.title ?? task : task, kind: 'task' });
  if (suite === 'vtab-1k') {
    const columns: TableColumn[] = [];
    for (const group of Object.keys(GROUP_TITLES) as VtabGroupName[]) {
      columns.push(...tasks.filter((task) => vtabGroup(task, records) === group).map(taskColumn));
      columns.push({ key: `mean:${group}`, label: `${GROUP_TITLES[group]} mean`, kind: 'group-mean' });
    }
    // A task of no VTAB group cannot enter the group means; it still gets its own column.
    columns.push(...tasks.filter((task) => vtabGroup(task, records) === null).map(taskColumn));
    columns.push({ key: 'mean-of-group-means', label: 'Mean of group means', kind: 'mean-of-group-means' });
    return { columns, headline: 'mean-of-group-means' };
  }
  const columns = tasks.map(taskColumn);
  if (tasks.length < 2) return { columns, headline: tasks[0]! };
  return { columns: [...columns, { key: 'mean', label: 'Mean', kind: 'mean' }], headline: 'mean' };
}

function environmentLine(record: ResultRecord): string {
  const environment = record.environment;
  return `${environment.backend} (${environment.backendPackage} ${environment.backendVersion}, ${environment.device}; tfjs-core ${environment.tfjsCoreVersion}; Node ${environment.node})`;
}

/** The backbone's own parameter count: everything but the head and the modules methods add. */
function backboneParameters(record: ResultRecord): number {
  const { total, trainable, trainableBackbone } = record.parameters;
  return total - trainable + trainableBackbone;
}

const SUITE_TITLES: Readonly<Record<SuiteName, string>> = { fgvc: 'FGVC', 'vtab-1k': 'VTAB-1k', ade20k: 'ADE20K', demo: 'Demo' };

/** A job's place in a table: method, task and seed. */
const cellKey = (suite: SuiteName, job: JobKey) => JSON.stringify([job.method, taskName(suite, job.task), job.seed]);

function buildTable(suite: SuiteName, backbone: string, records: readonly ResultRecord[], planned: readonly JobKey[] | null): ResultTable {
  const jobs = [...records.map((record) => record.job), ...(planned ?? [])];
  const tasks = taskColumns(
    suite,
    jobs.map((job) => taskName(suite, job.task)),
  );
  const { columns, headline } = columnsFor(suite, tasks, records);
  const methods = methodOrder(jobs.map((job) => job.method));
  const seeds = [...new Set(jobs.map((job) => job.seed))].sort((a, b) => a - b);
  const rows = methods.map((method): TableRow => {
    const own = records.filter((record) => record.job.method === method);
    const cells: Record<string, CellStats> = {};
    for (const task of tasks) {
      const values = own.filter((record) => taskName(suite, record.job.task) === task).map((record) => record.metric.value * 100);
      cells[task] = values.length === 0 ? { mean: null, std: null, seeds: 0 } : { mean: mean(values), std: sampleStd(values), seeds: values.length };
    }
    for (const column of columns) {
      if (column.kind === 'group-mean') {
        const group = column.key.slice('mean:'.length);
        cells[column.key] = meanOfCells(tasks.filter((task) => vtabGroup(task, records) === group).map((task) => cells[task]!));
      } else if (column.kind === 'mean') {
        cells[column.key] = meanOfCells(tasks.map((task) => cells[task]!));
      } else if (column.kind === 'mean-of-group-means') {
        cells[column.key] = meanOfCells(columns.filter((other) => other.kind === 'group-mean').map((other) => cells[other.key]!));
      }
    }
    return {
      method,
      cells,
      trainableMillions: own.length === 0 ? null : mean(own.map((record) => record.parameters.trainable / 1e6)),
      trainablePercent: own.length === 0 ? null : mean(own.map((record) => (record.parameters.trainable / backboneParameters(record)) * 100)),
    };
  });
  const present = new Set(records.map((record) => cellKey(suite, record.job)));
  const expected = planned === null ? null : new Set([...planned.map((job) => cellKey(suite, job)), ...present]);
  const expectedJobs = expected?.size ?? methods.length * tasks.length * seeds.length;
  return {
    suite,
    backbone,
    title: `${SUITE_TITLES[suite]}, ${backbone}`,
    metric: records[0]?.metric.name ?? (suite === 'ade20k' ? 'mIoU' : 'top1'),
    columns,
    rows,
    seeds,
    expectedJobs,
    missingJobs: expectedJobs - present.size,
    plannedJobs: planned !== null,
    headlineColumn: headline,
    environments: [...new Set(records.map(environmentLine))].sort(),
  };
}

/** The jobs a store's suite plans (every backbone x task x method x seed of `<out>/suite.json`). */
export interface PlannedJobs {
  readonly suite: SuiteName;
  readonly jobs: readonly JobKey[];
}

/**
 * One table per (suite, backbone), in the order they first appear in the records, then in the plan.
 * With the suite's planned jobs, methods and tasks without any result yet get their rows and
 * columns too, and the missing count is of the suite's own jobs.
 */
export function buildResultTables(records: readonly ResultRecord[], plan: PlannedJobs | null = null): ResultTable[] {
  const groups = new Map<string, { records: ResultRecord[]; planned: JobKey[] }>();
  const group = (suite: SuiteName, backbone: string) => {
    const key = JSON.stringify([suite, backbone]);
    if (!groups.has(key)) groups.set(key, { records: [], planned: [] });
    return groups.get(key)!;
  };
  for (const record of records) group(record.suite, record.job.backbone).records.push(record);
  for (const job of plan?.jobs ?? []) group(plan!.suite, job.backbone).planned.push(job);
  return [...groups.entries()].map(([key, members]) => {
    const [suite, backbone] = JSON.parse(key) as [SuiteName, string];
    return buildTable(suite, backbone, members.records, plan !== null && suite === plan.suite ? members.planned : null);
  });
}

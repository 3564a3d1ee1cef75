import type { Diagnostic, PerBlockDiagnostic } from '@visual-peft/vit-core';
import type { ResultRecord } from '../suite/result-record';
import type { ResultTable } from './result-tables';
import { taskName } from './result-tables';
import type { ChartSpec } from './svg-chart';
import { stylesByName } from './svg-chart';

/** One plot to draw: `name` is its file stem under report/plots/. */
export interface PlannedPlot {
  readonly name: string;
  readonly chart: ChartSpec;
}

/** A plot not drawn, and why: the report says so instead of drawing an empty chart. */
export interface SkippedPlot {
  readonly plot: string;
  readonly reason: string;
}

export interface PlotPlan {
  readonly plots: readonly PlannedPlot[];
  readonly skipped: readonly SkippedPlot[];
}

/** A file-name-safe stem: lower case letters, digits, dots, dashes. */
function slug(...parts: readonly string[]): string {
  return parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Element-wise mean of lists (e.g. per block over seeds); an index counts the lists that reach it. */
function meanLists(lists: readonly (readonly number[])[]): number[] {
  const length = Math.max(...lists.map((list) => list.length));
  return Array.from({ length }, (_, index) => mean(lists.filter((list) => index < list.length).map((list) => list[index]!)));
}

function accuracyVersusParameters(table: ResultTable): PlannedPlot | SkippedPlot {
  const plot = `Accuracy versus trainable parameters (${table.title})`;
  const column = table.columns.find((candidate) => candidate.key === table.headlineColumn)!;
  const complete = table.rows.filter((row) => row.cells[table.headlineColumn]!.mean !== null && row.trainableMillions !== null);
  if (complete.length === 0) return { plot, reason: `no method has a result for "${column.label}" yet` };
  return {
    name: slug('accuracy-vs-parameters', table.suite, table.backbone),
    chart: {
      kind: 'scatter',
      title: `${column.label} versus trainable parameters: ${table.title}`,
      xLabel: 'trainable parameters (log scale)',
      yLabel: `${column.label}, ${table.metric === 'mIoU' ? 'mIoU' : 'top-1'} (%)`,
      logX: true,
      series: complete.map((row) => ({ name: row.method, points: [{ x: row.trainableMillions! * 1e6, y: row.cells[table.headlineColumn]!.mean!, label: row.method }] })),
    },
  };
}

/** One diagnostic of one record: the job it belongs to, the method that reported it, the epoch. */
interface Reported<D extends Diagnostic = Diagnostic> {
  readonly record: ResultRecord;
  readonly owner: string;
  readonly epoch: number;
  readonly diagnostic: D;
}

/** Every diagnostic of the records of one kind, in record and epoch order. */
function reportedOfKind<K extends Diagnostic['kind']>(records: readonly ResultRecord[], kind: K): Reported<Extract<Diagnostic, { kind: K }>>[] {
  return records.flatMap((record) =>
    record.diagnostics.flatMap(({ epoch, methods }) =>
      Object.entries(methods).flatMap(([owner, list]) =>
        list.filter((diagnostic): diagnostic is Extract<Diagnostic, { kind: K }> => diagnostic.kind === kind).map((diagnostic) => ({ record, owner, epoch, diagnostic })),
      ),
    ),
  );
}

/** Groups by a key, keys sorted. */
function groupBy<T>(items: readonly T[], key: (item: T) => string): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** The last epoch's record of each (job, reporting method, name): what a plot over blocks or channels shows. */
function lastEpoch<D extends Diagnostic>(reported: readonly Reported<D>[]): Reported<D>[] {
  return groupBy(reported, (item) => JSON.stringify([item.record.job.id, item.owner, item.diagnostic.name])).map(([, items]) => items.reduce((last, item) => (item.epoch > last.epoch ? item : last)));
}

/** A series name per job: the suite's method, with the reporting method when a job's method holds several of the same name. */
function seriesNamer(reported: readonly Reported[]): (item: Reported) => string {
  const owners = new Map<string, Set<string>>();
  for (const { record, owner } of reported) owners.set(record.job.method, (owners.get(record.job.method) ?? new Set()).add(owner));
  return ({ record, owner }) => (owners.get(record.job.method)!.size > 1 ? `${record.job.method} (${owner})` : record.job.method);
}

/** Block labels, 1-based as the papers number blocks, from the first to the last block any series covers. */
function blockRange(reported: readonly Reported<PerBlockDiagnostic>[]): { first: number; labels: string[] } {
  const first = Math.min(...reported.map(({ diagnostic }) => diagnostic.firstBlock));
  const end = Math.max(...reported.map(({ diagnostic }) => diagnostic.firstBlock + diagnostic.values.length));
  return { first, labels: Array.from({ length: end - first }, (_, index) => `${first + index + 1}`) };
}

/** `scalar` diagnostics over epochs: per diagnostic name and task one chart, a line per method (mean over seeds). */
function scalarCurves(table: ResultTable, records: readonly ResultRecord[]): (PlannedPlot | SkippedPlot)[] {
  const reported = reportedOfKind(records, 'scalar');
  if (reported.length === 0) return [{ plot: `Scalar diagnostics per epoch (${table.title})`, reason: 'no result holds a scalar diagnostic' }];
  return groupBy(reported, (item) => JSON.stringify([item.diagnostic.name, taskName(table.suite, item.record.job.task)])).map(([key, items]) => {
    const [name, task] = JSON.parse(key) as [string, string];
    const series = seriesNamer(items);
    return {
      name: slug(name, table.suite, table.backbone, task),
      chart: {
        kind: 'line',
        title: `${items[0]!.diagnostic.title}: ${task}, ${table.backbone}`,
        xLabel: 'epoch',
        yLabel: name,
        series: groupBy(items, series).map(([seriesName, members]) => ({
          name: seriesName,
          points: groupBy(members, (item) => String(item.epoch).padStart(9, '0')).map(([, atEpoch]) => ({ x: atEpoch[0]!.epoch + 1, y: mean(atEpoch.map((item) => item.diagnostic.value)) })),
        })),
      },
    };
  });
}

/** `per-block` diagnostics of the last epoch: per name one chart, blocks on x, a bar per task (and method when several have it), means over seeds. */
function perBlockBars(table: ResultTable, records: readonly ResultRecord[]): (PlannedPlot | SkippedPlot)[] {
  const reported = lastEpoch(reportedOfKind(records, 'per-block'));
  if (reported.length === 0) return [{ plot: `Per-block diagnostics (${table.title})`, reason: 'no result holds a per-block diagnostic' }];
  return groupBy(reported, (item) => item.diagnostic.name).map(([name, items]) => {
    const methodOf = seriesNamer(items);
    const severalMethods = new Set(items.map(methodOf)).size > 1;
    const seriesOf = (item: Reported) => (severalMethods ? `${methodOf(item)}, ${taskName(table.suite, item.record.job.task)}` : taskName(table.suite, item.record.job.task));
    const { first, labels } = blockRange(items);
    return {
      name: slug(name, table.suite, table.backbone),
      chart: {
        kind: 'bar',
        title: `${items[0]!.diagnostic.title}: ${table.title}`,
        xLabel: 'block',
        yLabel: name,
        categories: labels,
        series: groupBy(items, seriesOf).map(([seriesName, members]) => ({
          name: seriesName,
          values: labels.map((_, index) => {
            const block = first + index;
            const values = members.flatMap(({ diagnostic }) => {
              const value = diagnostic.values[block - diagnostic.firstBlock];
              return value === undefined ? [] : [value];
            });
            return values.length === 0 ? null : mean(values);
          }),
        })),
      },
    };
  });
}

/**
 * `channels` diagnostics of the last epoch: per method, name and task a block x channel map of how
 * often a channel was selected over seeds, or the mean score when none records a selection.
 */
function channelMaps(table: ResultTable, records: readonly ResultRecord[]): (PlannedPlot | SkippedPlot)[] {
  const reported = lastEpoch(reportedOfKind(records, 'channels'));
  if (reported.length === 0) return [{ plot: `Channel maps (${table.title})`, reason: 'no result holds a channels diagnostic' }];
  const methodOf = seriesNamer(reported);
  return groupBy(reported, (item) => JSON.stringify([methodOf(item), item.diagnostic.name, taskName(table.suite, item.record.job.task)])).map(([key, members]) => {
    const [method, name, task] = JSON.parse(key) as [string, string, string];
    const selected = members.map(({ diagnostic }) => diagnostic).filter((diagnostic) => diagnostic.selected.some((block) => block.length > 0));
    let values: number[][];
    let valueLabel: string;
    if (selected.length > 0) {
      const blocks = Math.max(...selected.map((diagnostic) => diagnostic.selected.length));
      // The channel count comes from the scores when recorded; else from the highest index selected.
      const channels = Math.max(
        1,
        ...members.flatMap(({ diagnostic }) => (diagnostic.scores ?? []).map((scores) => scores.length)),
        ...selected.flatMap((diagnostic) => diagnostic.selected.flatMap((block) => block.map((channel) => channel + 1))),
      );
      values = Array.from({ length: blocks }, () => new Array<number>(channels).fill(0));
      // A channel counts once per seed and block, so a cell is the share of seeds that selected it.
      for (const diagnostic of selected) diagnostic.selected.forEach((block, index) => new Set(block).forEach((channel) => (values[index]![channel]! += 1 / selected.length)));
      valueLabel = selected.length > 1 ? `selected (share of ${selected.length} seeds)` : 'selected';
    } else {
      const scored = members.flatMap(({ diagnostic }) => (diagnostic.scores === null ? [] : [diagnostic.scores]));
      const blocks = Math.max(0, ...scored.map((perBlock) => perBlock.length));
      values = Array.from({ length: blocks }, (_, block) => meanLists(scored.filter((perBlock) => block < perBlock.length).map((perBlock) => perBlock[block]!)));
      valueLabel = 'score';
    }
    if (values.length === 0) return { plot: `${members[0]!.diagnostic.title} (${method}, ${task})`, reason: 'no channel is selected and no score recorded' };
    return {
      name: slug(name, table.suite, table.backbone, method, task),
      chart: { kind: 'heatmap', title: `${method} ${members[0]!.diagnostic.title}: ${task}, ${table.backbone}`, xLabel: 'channel', yLabel: 'block', rows: values.map((_, index) => `${index + 1}`), values, valueLabel },
    };
  });
}

/** Mean over a method's jobs of a timing field, as one bar per method (none for a method without results). */
function perMethodBars(table: ResultTable, records: readonly ResultRecord[], what: string, name: string, yLabel: string, value: (record: ResultRecord) => number): PlannedPlot | SkippedPlot {
  if (records.length === 0) return { plot: `${what} (${table.title})`, reason: 'no result yet' };
  const methods = table.rows.map((row) => row.method);
  const valuesOf = (method: string) => records.filter((record) => record.job.method === method).map(value);
  return {
    name: slug(name, table.suite, table.backbone),
    chart: {
      kind: 'bar',
      title: `${what}: ${table.title}`,
      xLabel: 'method',
      yLabel,
      categories: methods,
      series: [{ name: yLabel, values: methods.map((method) => (valuesOf(method).length === 0 ? null : mean(valuesOf(method)))) }],
    },
  };
}

/** Every plot the report draws for one table's records, or why it is skipped. */
export function planPlots(table: ResultTable, records: readonly ResultRecord[]): PlotPlan {
  const own = records.filter((record) => record.suite === table.suite && record.job.backbone === table.backbone);
  const candidates = [
    accuracyVersusParameters(table),
    ...scalarCurves(table, own),
    ...perBlockBars(table, own),
    ...channelMaps(table, own),
    perMethodBars(table, own, 'Training memory per method', 'peak-memory', 'peak tensor memory (MiB)', (record) => record.timing.peakBytes / 2 ** 20),
    perMethodBars(table, own, 'Training step time per method', 'step-time', 'seconds per training step', (record) => record.timing.stepSeconds),
  ];
  return {
    plots: candidates.filter((candidate): candidate is PlannedPlot => 'chart' in candidate),
    skipped: candidates.filter((candidate): candidate is SkippedPlot => 'reason' in candidate),
  };
}

/**
 * Every plot of a report, its tables in order, with one style per series name across all of them:
 * the tables' methods first, in their order, then other line and scatter series as they come, so a
 * method has the same colour and marker in every plot of the report.
 */
export function planReportPlots(tables: readonly ResultTable[], records: readonly ResultRecord[]): PlotPlan {
  const plans = tables.map((table) => planPlots(table, records));
  const plots = plans.flatMap((plan) => plan.plots);
  // Bars keep their series' index colours: their series are tasks or one measure, not methods.
  const markedSeries = (chart: ChartSpec) => (chart.kind === 'line' || chart.kind === 'scatter' ? chart.series : []);
  const styles = stylesByName([...tables.flatMap((table) => table.rows.map((row) => row.method)), ...plots.flatMap(({ chart }) => markedSeries(chart).map((series) => series.name))]);
  const withStyles = (chart: ChartSpec): ChartSpec => {
    if (chart.kind === 'line') return { ...chart, series: chart.series.map((series) => ({ ...series, style: styles.get(series.name)! })) };
    if (chart.kind === 'scatter') return { ...chart, series: chart.series.map((series) => ({ ...series, style: styles.get(series.name)! })) };
    return chart;
  };
  return { plots: plots.map((plot) => ({ ...plot, chart: withStyles(plot.chart) })), skipped: plans.flatMap((plan) => plan.skipped) };
}

import type { Diagnostics, ResultRecord } from '../suite/result-record';
import type { ResultTable } from './result-tables';
import { taskName } from './result-tables';
import type { ChartSpec } from './svg-chart';

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

const blockNames = (count: number) => Array.from({ length: count }, (_, index) => `${index + 1}`);

type ListDiagnostic = 'gateSelectionRatios' | 'nmiPerEpoch' | 'queryBlockImportance';

/** Records of the table holding a diagnostic, grouped by a series name (the task, with the method when several methods have it). */
function bySeries(records: readonly ResultRecord[], suite: ResultTable['suite'], has: (diagnostics: Diagnostics) => boolean): Map<string, ResultRecord[]> {
  const holding = records.filter((record) => has(record.diagnostics));
  const severalMethods = new Set(holding.map((record) => record.job.method)).size > 1;
  const series = new Map<string, ResultRecord[]>();
  for (const record of holding) {
    const task = taskName(suite, record.job.task);
    const name = severalMethods ? `${record.job.method}, ${task}` : task;
    series.set(name, [...(series.get(name) ?? []), record]);
  }
  return new Map([...series.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Per-block bars (GatedPT's gates, VQT's importance): blocks on x, one bar per task, means over seeds. */
function perBlockBars(table: ResultTable, records: readonly ResultRecord[], key: ListDiagnostic, what: string, yLabel: string): PlannedPlot | SkippedPlot {
  const series = bySeries(records, table.suite, (diagnostics) => (diagnostics[key]?.length ?? 0) > 0);
  if (series.size === 0) return { plot: `${what} (${table.title})`, reason: `no result holds diagnostics.${key}` };
  const lists = [...series.entries()].map(([name, members]) => ({ name, values: meanLists(members.map((record) => record.diagnostics[key]!)) }));
  const blocks = Math.max(...lists.map((list) => list.values.length));
  return {
    name: slug(key, table.suite, table.backbone),
    chart: {
      kind: 'bar',
      title: `${what}: ${table.title}`,
      xLabel: 'block',
      yLabel,
      categories: blockNames(blocks),
      series: lists.map((list) => ({ name: list.name, values: blockNames(blocks).map((_, index) => list.values[index] ?? null) })),
    },
  };
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

/** Prompt-patch NMI per epoch, one chart per task, a line per method (mean over seeds). */
function nmiCurves(table: ResultTable, records: readonly ResultRecord[]): (PlannedPlot | SkippedPlot)[] {
  const holding = records.filter((record) => (record.diagnostics.nmiPerEpoch?.length ?? 0) > 0);
  if (holding.length === 0) return [{ plot: `Prompt NMI per epoch (${table.title})`, reason: 'no result holds diagnostics.nmiPerEpoch' }];
  const tasks = [...new Set(holding.map((record) => taskName(table.suite, record.job.task)))].sort();
  return tasks.map((task) => {
    const forTask = holding.filter((record) => taskName(table.suite, record.job.task) === task);
    const methods = [...new Set(forTask.map((record) => record.job.method))];
    return {
      name: slug('nmi', table.suite, table.backbone, task),
      chart: {
        kind: 'line',
        title: `Prompt-patch NMI per epoch: ${task}, ${table.backbone}`,
        xLabel: 'epoch',
        yLabel: 'NMI',
        series: methods.map((method) => ({
          name: method,
          points: meanLists(forTask.filter((record) => record.job.method === method).map((record) => record.diagnostics.nmiPerEpoch!)).map((y, index) => ({ x: index + 1, y })),
        })),
      },
    };
  });
}

/** SCT's channels: per task, a block x channel map of how often a channel was selected over seeds (or its mean score). */
function salientChannelMaps(table: ResultTable, records: readonly ResultRecord[]): (PlannedPlot | SkippedPlot)[] {
  const holding = records.filter((record) => (record.diagnostics.salientChannels?.length ?? 0) > 0 || (record.diagnostics.channelScores?.length ?? 0) > 0);
  if (holding.length === 0) return [{ plot: `Salient channel maps (${table.title})`, reason: 'no result holds diagnostics.salientChannels or channelScores' }];
  const keys = [...new Set(holding.map((record) => JSON.stringify([record.job.method, taskName(table.suite, record.job.task)])))].sort();
  return keys.map((key) => {
    const [method, task] = JSON.parse(key) as [string, string];
    const members = holding.filter((record) => record.job.method === method && taskName(table.suite, record.job.task) === task);
    const selected = members.filter((record) => (record.diagnostics.salientChannels?.length ?? 0) > 0);
    let values: number[][];
    let valueLabel: string;
    if (selected.length > 0) {
      const blocks = Math.max(...selected.map((record) => record.diagnostics.salientChannels!.length));
      // The channel count comes from the scores when recorded; else from the highest index selected.
      const channels = Math.max(
        1,
        ...members.flatMap((record) => (record.diagnostics.channelScores ?? []).map((scores) => scores.length)),
        ...selected.flatMap((record) => record.diagnostics.salientChannels!.flatMap((block) => block.map((channel) => channel + 1))),
      );
      values = Array.from({ length: blocks }, () => new Array<number>(channels).fill(0));
      // A channel counts once per seed and block, so a cell is the share of seeds that selected it.
      for (const record of selected) record.diagnostics.salientChannels!.forEach((block, index) => new Set(block).forEach((channel) => (values[index]![channel]! += 1 / selected.length)));
      valueLabel = selected.length > 1 ? `selected (share of ${selected.length} seeds)` : 'selected';
    } else {
      values = [];
      const scored = members.map((record) => record.diagnostics.channelScores!);
      const blocks = Math.max(...scored.map((perBlock) => perBlock.length));
      for (let block = 0; block < blocks; block += 1) values.push(meanLists(scored.filter((perBlock) => block < perBlock.length).map((perBlock) => perBlock[block]!)));
      valueLabel = 'channel importance';
    }
    return {
      name: slug('salient-channels', table.suite, table.backbone, method, task),
      chart: { kind: 'heatmap', title: `${method} salient channels: ${task}, ${table.backbone}`, xLabel: 'channel', yLabel: 'block', rows: blockNames(values.length), values, valueLabel },
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
    perBlockBars(table, own, 'gateSelectionRatios', 'GatedPT gate selection ratio per block', 'selection ratio'),
    ...nmiCurves(table, own),
    perBlockBars(table, own, 'queryBlockImportance', 'VQT importance of each block', 'share of head weight norm'),
    ...salientChannelMaps(table, own),
    perMethodBars(table, own, 'Training memory per method', 'peak-memory', 'peak tensor memory (MiB)', (record) => record.timing.peakBytes / 2 ** 20),
    perMethodBars(table, own, 'Training step time per method', 'step-time', 'seconds per training step', (record) => record.timing.stepSeconds),
  ];
  return {
    plots: candidates.filter((candidate): candidate is PlannedPlot => 'chart' in candidate),
    skipped: candidates.filter((candidate): candidate is SkippedPlot => 'reason' in candidate),
  };
}

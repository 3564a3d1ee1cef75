import { VTAB_TASKS } from '@visual-peft/datasets';
import { describe, expect, it } from 'vitest';
import { makeRecord } from './__fixtures__/make-record';
import { buildResultTables, sampleStd } from './result-tables';

const vtabTasks = Object.entries(VTAB_TASKS) as [string, { group: 'natural' | 'specialized' | 'structured' }][];
const groupValue = { natural: 0.8, specialized: 0.6, structured: 0.3 };

/** Linear on every VTAB-1k task (seed 0); VPT-deep on CIFAR only, two seeds. */
function vtabRecords() {
  return [
    ...vtabTasks.map(([task, { group }], index) =>
      // Both spellings of a task name occur in stores: `vtab-cifar` and `cifar`.
      makeRecord({ suite: 'vtab-1k', method: 'linear', task: index % 2 === 0 ? `vtab-${task}` : task, group, value: groupValue[group] }),
    ),
    makeRecord({ suite: 'vtab-1k', method: 'vpt-deep', task: 'vtab-cifar', group: 'natural', seed: 0, value: 0.5 }),
    makeRecord({ suite: 'vtab-1k', method: 'vpt-deep', task: 'vtab-cifar', group: 'natural', seed: 1, value: 0.7 }),
  ];
}

describe('buildResultTables', () => {
  it('lays VTAB-1k out by group with group means and the mean of group means (not the mean over tasks)', () => {
    const [table] = buildResultTables(vtabRecords());
    expect(table!.title).toBe('VTAB-1k, tiny');
    expect(table!.columns.map((column) => column.key)).toEqual([
      ...vtabTasks.filter(([, { group }]) => group === 'natural').map(([task]) => task),
      'mean:natural',
      ...vtabTasks.filter(([, { group }]) => group === 'specialized').map(([task]) => task),
      'mean:specialized',
      ...vtabTasks.filter(([, { group }]) => group === 'structured').map(([task]) => task),
      'mean:structured',
      'mean-of-group-means',
    ]);
    const linear = table!.rows.find((row) => row.method === 'linear')!;
    expect(linear.cells['mean:natural']!.mean).toBeCloseTo(80, 10);
    expect(linear.cells['mean:specialized']!.mean).toBeCloseTo(60, 10);
    expect(linear.cells['mean:structured']!.mean).toBeCloseTo(30, 10);
    // (80 + 60 + 30) / 3, where the mean over the 19 tasks would be 1040 / 19 = 54.7.
    expect(linear.cells['mean-of-group-means']!.mean).toBeCloseTo(170 / 3, 10);
  });

  it('gives mean and sample std over seeds, and leaves a mean missing when any task it covers is missing', () => {
    const [table] = buildResultTables(vtabRecords());
    const vpt = table!.rows.find((row) => row.method === 'vpt-deep')!;
    expect(vpt.cells.cifar).toEqual({ mean: expect.closeTo(60, 10), std: expect.closeTo(Math.SQRT2 * 10, 10), seeds: 2 });
    expect(vpt.cells.dtd).toEqual({ mean: null, std: null, seeds: 0 });
    expect(vpt.cells['mean:natural']!.mean).toBeNull();
    expect(vpt.cells['mean-of-group-means']!.mean).toBeNull();
    expect(table!.rows.find((row) => row.method === 'linear')!.cells.cifar!.std).toBeNull();
  });

  it('counts the missing jobs of methods x tasks x seeds', () => {
    const [table] = buildResultTables(vtabRecords());
    expect(table!.seeds).toEqual([0, 1]);
    expect(table!.expectedJobs).toBe(2 * 19 * 2);
    expect(table!.missingJobs).toBe(2 * 19 * 2 - 21);
  });

  it('lays FGVC out as the five datasets and their mean, with parameters in M and % of the backbone', () => {
    const records = ['cub', 'nabirds', 'oxford-flowers', 'stanford-dogs', 'stanford-cars'].map((task, index) =>
      makeRecord({ suite: 'fgvc', method: 'lora', task, value: 0.5 + index / 10, trainable: 20_000 + index * 2_000, total: 1_020_000 + index * 2_000 }),
    );
    const [table] = buildResultTables(records);
    expect(table!.columns.map((column) => column.label)).toEqual(['CUB-200-2011', 'NABirds', 'Oxford Flowers', 'Stanford Dogs', 'Stanford Cars', 'Mean']);
    const row = table!.rows[0]!;
    expect(row.cells.mean!.mean).toBeCloseTo(70, 10);
    expect(row.trainableMillions).toBeCloseTo(0.024, 10);
    // Every record's backbone is 1,000,000 parameters: the trainable share is 2.0% to 2.8%.
    expect(row.trainablePercent).toBeCloseTo(2.4, 10);
    expect(table!.missingJobs).toBe(0);
  });

  it('orders methods as the app lists them, unknown names last; one table per suite and backbone', () => {
    const tables = buildResultTables([
      makeRecord({ method: 'zz-custom', task: 'fmnist-unseen', value: 0.4 }),
      makeRecord({ method: 'vqt', task: 'fmnist-unseen', value: 0.6 }),
      makeRecord({ method: 'linear', task: 'fmnist-rotation', value: 0.5 }),
      makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.7, backbone: 'mae' }),
      makeRecord({ suite: 'ade20k', method: 'linear', task: 'ade20k', value: 0.25 }),
    ]);
    expect(tables.map((table) => table.title)).toEqual(['Demo, tiny', 'Demo, mae', 'ADE20K, tiny']);
    expect(tables[0]!.rows.map((row) => row.method)).toEqual(['linear', 'vqt', 'zz-custom']);
    expect(tables[0]!.columns.map((column) => column.key)).toEqual(['fmnist-rotation', 'fmnist-unseen', 'mean']);
    expect(tables[0]!.missingJobs).toBe(3);
    // One task: no mean column; mIoU as the metric.
    expect(tables[2]!.columns.map((column) => column.key)).toEqual(['ade20k']);
    expect(tables[2]!.metric).toBe('mIoU');
    expect(tables[2]!.headlineColumn).toBe('ade20k');
  });

  it("with the suite's plan, gives methods and tasks without results their rows and counts the suite's missing jobs", () => {
    const planned = ['linear', 'lora'].flatMap((method) =>
      ['fmnist-unseen', 'fmnist-rotation'].map((task) => ({ id: `tiny__${task}__${method}__seed0`, method, task, group: 'demo' as const, seed: 0, backbone: 'tiny' })),
    );
    const tables = buildResultTables([makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.5 })], { suite: 'demo', jobs: [...planned, { ...planned[0]!, backbone: 'mae', id: 'mae__fmnist-unseen__linear__seed0' }] });
    expect(tables.map((table) => [table.title, table.expectedJobs, table.missingJobs, table.plannedJobs])).toEqual([
      ['Demo, tiny', 4, 3, true],
      ['Demo, mae', 1, 1, true],
    ]);
    expect(tables[0]!.rows.map((row) => [row.method, row.cells['fmnist-unseen']!.mean, row.trainableMillions])).toEqual([
      ['linear', 50, 0.01],
      ['lora', null, null],
    ]);
    expect(tables[0]!.columns.map((column) => column.key)).toEqual(['fmnist-rotation', 'fmnist-unseen', 'mean']);
    expect(tables[1]!.environments).toEqual([]);
  });

  it('computes the sample standard deviation', () => {
    expect(sampleStd([1])).toBeNull();
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12);
  });
});

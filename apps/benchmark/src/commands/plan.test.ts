import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRecord } from '../report/__fixtures__/make-record';
import type { ResultRecord } from '../suite/result-record';
import { runCli } from '../run-cli';
import { parseStepSeconds } from '../suite/plan-jobs';

const SUITES = resolve(__dirname, '../../suites');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'visual-peft-plan-'));
}

function writeStore(records: readonly ResultRecord[]): string {
  const out = tempDir();
  mkdirSync(join(out, 'results'));
  for (const record of records) writeFileSync(join(out, 'results', `${record.job.id}.json`), JSON.stringify(record));
  return out;
}

/** Two VTAB-1k tasks, two methods, two seeds, a two-point grid, 2 epochs of batch 100 on a tiny backbone. */
const TINY_SUITE = `suite: vtab-1k
tasks: [vtab-cifar, vtab-dtd]
methods: [linear, vpt-deep]
seeds: [1, 2]
epochs: 2
batchSize: 100
grid: { learningRates: [0.1, 0.01], weightDecays: [0] }
backbones: [{ name: tiny, config: vit_tiny_patch16_224 }]
paper:
  source: "A paper, Table 9"
  columns: [vtab-cifar, vtab-dtd, natural, mean]
  rows:
    - { method: linear, label: LINEAR, values: { vtab-cifar: 50, vtab-dtd: 60, natural: 55, mean: 55 } }
    - { method: vpt-deep, label: VPT-DEEP, values: { vtab-cifar: 70 } }
`;

function tinySuite(text = TINY_SUITE): string {
  const file = join(tempDir(), 'tiny.yaml');
  writeFileSync(file, text);
  return file;
}

const lastJson = (stdout: string[]) => JSON.parse(stdout[stdout.length - 1]!) as Record<string, unknown>;

describe('run --plan', () => {
  it('resolves and plans every paper suite file, touching no store', async () => {
    const files = readdirSync(SUITES).filter((name) => name.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(20);
    const out = join(tempDir(), 'never-written');
    for (const name of files) {
      const result = await runCli('run', '--suite', join(SUITES, name), '--plan', '--out', out);
      expect(result.code, `${name}: ${result.stderr.join('\n')}`).toBe(0);
      expect(lastJson(result.stdout).jobs, name).toBeGreaterThan(0);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('counts the jobs and steps as run does and estimates hours from the flag and from records', async () => {
    // vpt-deep's step time is recorded twice on the same backbone (median 0.3 s); another backbone's record is ignored.
    const timings = writeStore([
      makeRecord({ suite: 'vtab-1k', backbone: 'tiny', method: 'vpt-deep', task: 'vtab-cifar', group: 'natural', seed: 1, value: 0.5, stepSeconds: 0.2 }),
      makeRecord({ suite: 'vtab-1k', backbone: 'tiny', method: 'vpt-deep', task: 'vtab-dtd', group: 'natural', seed: 1, value: 0.5, stepSeconds: 0.4 }),
      makeRecord({ suite: 'vtab-1k', backbone: 'other', method: 'vpt-deep', task: 'vtab-dtd', group: 'natural', seed: 1, value: 0.5, stepSeconds: 9 }),
    ]);
    const result = await runCli('run', '--suite', tinySuite(), '--plan', '--step-seconds', 'linear=0.5', '--timings', timings);
    expect(result.code, result.stderr.join('\n')).toBe(0);
    // Per job: 2 grid points x floor(800 / 100) x 2 epochs = 32 search steps, then floor(1000 / 100) x 2 = 20 final steps.
    const jobLines = result.stdout.filter((line) => line.startsWith('tiny | '));
    expect(jobLines).toHaveLength(8);
    expect(jobLines).toContain('tiny | vtab-cifar | vpt-deep | 2 | 2 | 2 | 52');
    expect(result.stdout).toContain('step time of linear on tiny: 0.5 s per step (--step-seconds)');
    expect(result.stdout).toContain('step time of vpt-deep on tiny: 0.3 s per step (recorded: median of 2 records)');
    const summary = lastJson(result.stdout);
    expect(summary.jobs).toBe(8);
    expect(summary.steps).toBe(8 * 52);
    // 4 jobs x 52 steps x 0.5 s + 4 x 52 x 0.3 s, in hours.
    expect(summary.hours as number).toBeCloseTo((4 * 52 * 0.5 + 4 * 52 * 0.3) / 3600, 10);
    expect(summary.unestimated).toBe(0);
  });

  it('leaves out of the estimate what has no step time or train size, and says so', async () => {
    const result = await runCli('run', '--suite', join(SUITES, 'gatedpt-table1-fgvc-mae.yaml'), '--plan', '--step-seconds', 'vpt-deep=0.1');
    expect(result.code, result.stderr.join('\n')).toBe(0);
    expect(result.stdout.some((line) => line.endsWith('| unknown (needs --data)'))).toBe(true);
    expect(result.stdout.some((line) => line.includes('step time of gated-prompt on vit-b16-mae: no step time'))).toBe(true);
    const summary = lastJson(result.stdout);
    expect(summary.hours).toBe(0);
    expect(summary.unestimated).toBe(summary.jobs);
  });

  it('reads --step-seconds of variants, whose names hold commas and =', () => {
    const times = parseStepSeconds('sct[k=8,scale=0.5]=0.2,linear=1', ['sct[k=8,scale=0.5]', 'linear']);
    expect([...times]).toEqual([
      ['sct[k=8,scale=0.5]', 0.2],
      ['linear', 1],
    ]);
  });

  it('refuses bad --step-seconds with usage errors', async () => {
    const suite = tinySuite();
    for (const [value, message] of [
      ['linear', 'method=seconds'],
      ['linear=-1', 'method=seconds'],
      ['sct=0.1', 'not a method of the suite'],
      ['linear=0.1,linear=0.2', 'twice'],
    ] as const) {
      const result = await runCli('run', '--suite', suite, '--plan', '--step-seconds', value);
      expect(result.code, value).not.toBe(0);
      expect(result.stderr.join('\n'), value).toContain(message);
    }
    const withoutPlan = await runCli('run', '--suite', suite, '--step-seconds', 'linear=1', '--out', tempDir());
    expect(withoutPlan.stderr.join('\n')).toContain('apply to --plan only');
  });

  it('refuses a bad paper: block with the field, the value and the rule', async () => {
    const cases: [string, string][] = [
      [TINY_SUITE.replace('columns: [vtab-cifar, vtab-dtd, natural, mean]', 'columns: [vtab-cifar, structured]'), 'paper.columns[1]'],
      [TINY_SUITE.replace('vtab-cifar: 70', 'vtab-cifar: 170'), 'paper.rows[1].values.vtab-cifar'],
      [TINY_SUITE.replace('method: vpt-deep, label', 'method: sct, label'), 'paper.rows[1].method'],
      [TINY_SUITE.replace('{ vtab-cifar: 70 }', '{ vtab-eurosat: 70 }'), 'paper.rows[1].values.vtab-eurosat'],
      [TINY_SUITE.replace('source: "A paper, Table 9"', 'source: ""'), 'paper.source'],
    ];
    for (const [text, field] of cases) {
      const result = await runCli('run', '--suite', tinySuite(text), '--plan');
      expect(result.code, field).not.toBe(0);
      expect(result.stderr.join('\n'), field).toContain(field);
    }
  });
});

describe('report --suite (the paper layout)', () => {
  it('prints ours, the paper and the difference per cell, and "not run" for rows the store lacks', async () => {
    const record = (task: string, seed: number, value: number) => makeRecord({ suite: 'vtab-1k', backbone: 'tiny', method: 'linear', task, group: 'natural', seed, value });
    const out = writeStore([record('vtab-cifar', 1, 0.52), record('vtab-cifar', 2, 0.54), record('vtab-dtd', 1, 0.6), record('vtab-dtd', 2, 0.62)]);
    const result = await runCli('report', '--out', out, '--suite', tinySuite());
    expect(result.code, result.stderr.join('\n')).toBe(0);
    const text = result.stdout.join('\n');
    expect(text).toContain('### A paper, Table 9, backbone tiny: ours / paper (difference), top-1 accuracy (%)');
    // cifar 53 vs 50, dtd 61 vs 60, natural and mean (53 + 61) / 2 = 57 vs 55.
    expect(text).toContain('| linear (LINEAR) | 53.00 / 50.00 (+3.00) | 61.00 / 60.00 (+1.00) | 57.00 / 55.00 (+2.00) | 57.00 / 55.00 (+2.00) |');
    expect(text).toContain('| vpt-deep (VPT-DEEP) | not run / 70.00 | not run / not reported | not run / not reported | not run / not reported |');
    expect(readFileSync(join(out, 'report', 'paper.md'), 'utf8')).toContain('53.00 / 50.00 (+3.00)');
  });

  it('refuses a suite file without paper numbers', async () => {
    const out = writeStore([makeRecord({ suite: 'vtab-1k', method: 'linear', task: 'vtab-cifar', group: 'natural', value: 0.5 })]);
    const result = await runCli('report', '--out', out, '--suite', join(SUITES, 'spt-fgvc-mae.yaml'));
    expect(result.code).not.toBe(0);
    expect(result.stderr.join('\n')).toContain('no paper: block');
  });
});

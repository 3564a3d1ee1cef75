import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeRecord } from '../report/__fixtures__/make-record';
import type { ResultRecord } from '../suite/result-record';
import { runCli } from '../run-cli';

function writeStore(records: readonly ResultRecord[]): string {
  const out = mkdtempSync(join(tmpdir(), 'visual-peft-report-'));
  mkdirSync(join(out, 'results'));
  for (const record of records) writeFileSync(join(out, 'results', `${record.job.id}.json`), JSON.stringify(record));
  return out;
}

const tasks = ['fmnist-unseen', 'fmnist-rotation'];
/** A demo store: five methods x two tasks x two seeds, with each method's own diagnostics. */
const records = tasks.flatMap((task, taskIndex) =>
  [0, 1].flatMap((seed) => [
    makeRecord({ method: 'linear', task, seed, value: 0.5 + taskIndex / 10 + seed / 100, trainable: 330 }),
    makeRecord({ method: 'full', task, seed, value: 0.7 + seed / 100, trainable: 60_000, peakBytes: 40 * 2 ** 20, stepSeconds: 0.2 }),
    makeRecord({ method: 'gated-prompt', task, seed, value: 0.65, trainable: 2_000, diagnostics: { gateSelectionRatios: [0.9, 0.5, 0.2, 0.1], temperatures: [1, 1, 1, 1], nmiPerEpoch: [0.1, 0.2 + seed / 10, 0.3] } }),
    makeRecord({ method: 'vqt', task, seed, value: 0.62, trainable: 1_500, diagnostics: { queryBlockImportance: [0.1, 0.2, 0.3, 0.4] } }),
    makeRecord({ method: 'sct', task, seed, value: 0.66, trainable: 1_200, diagnostics: { salientChannels: [[0, 3], [seed, 5], [2, 7], [1, 6]], channelScores: [0, 1, 2, 3].map(() => Array.from({ length: 8 }, (_, index) => index / 8)) } }),
  ]),
);

describe('visual-peft-bench report', () => {
  it('writes the tables (Markdown, CSV, JSON), every plot as SVG and PNG, and prints the tables', async () => {
    const out = writeStore(records);
    const result = await runCli('report', '--out', out);
    expect(result.code).toBe(0);
    expect(result.stdout.join('\n')).toContain('| gated-prompt | 65.0 ± 0.0 | 65.0 ± 0.0 | 65.0 |');
    expect(result.stderr).toEqual([`report: 20 results, 1 table, 9 plots in ${join(out, 'report')}`]);

    const report = join(out, 'report');
    const markdown = readFileSync(join(report, 'report.md'), 'utf8');
    const json = JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as { schema: string; tables: { rows: { method: string; cells: Record<string, { mean: number }> }[] }[]; plots: { name: string; png: string; svg: string }[] };
    expect(json.schema).toBe('visual-peft-bench/report@1');
    expect(json.tables[0]!.rows.find((row) => row.method === 'linear')!.cells['fmnist-rotation']!.mean).toBeCloseTo(60.5, 10);
    expect(json.plots.map((plot) => plot.name).sort()).toEqual([
      'accuracy-vs-parameters-demo-tiny',
      'gateselectionratios-demo-tiny',
      'nmi-demo-tiny-fmnist-rotation',
      'nmi-demo-tiny-fmnist-unseen',
      'peak-memory-demo-tiny',
      'queryblockimportance-demo-tiny',
      'salient-channels-demo-tiny-sct-fmnist-rotation',
      'salient-channels-demo-tiny-sct-fmnist-unseen',
      'step-time-demo-tiny',
    ]);
    for (const plot of json.plots) {
      expect(readFileSync(join(report, plot.svg), 'utf8')).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="760" height="440"/);
      const metadata = await sharp(join(report, plot.png)).metadata();
      expect([metadata.format, metadata.width, metadata.height]).toEqual(['png', 1520, 880]);
      expect(markdown).toContain(`](${plot.png})`);
    }
    expect(readFileSync(join(report, 'tables', 'demo-tiny.csv'), 'utf8').split('\r\n')[0]).toBe(
      'method,fmnist-rotation,fmnist-rotation std,fmnist-unseen,fmnist-unseen std,Mean,params (M),params (%)',
    );
    expect(markdown).not.toContain('Not drawn');
  });

  it('skips plots without data, saying so in the Markdown', async () => {
    const out = writeStore([makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.5 }), makeRecord({ method: 'full', task: 'fmnist-rotation', value: 0.6 })]);
    const result = await runCli('report', '--out', out);
    expect(result.code).toBe(0);
    const markdown = readFileSync(join(out, 'report', 'report.md'), 'utf8');
    expect(markdown).toContain('- Accuracy versus trainable parameters (Demo, tiny): no method has a result for "Mean" yet.');
    expect(markdown).toContain('- GatedPT gate selection ratio per block (Demo, tiny): no result holds diagnostics.gateSelectionRatios.');
    expect(markdown).toContain('- Salient channel maps (Demo, tiny): no result holds diagnostics.salientChannels or channelScores.');
    expect(markdown).toContain('2 of 4 jobs (methods x tasks x seeds) have no result yet');
    expect(existsSync(join(out, 'report', 'plots', 'peak-memory-demo-tiny.png'))).toBe(true);
  });

  it("counts the missing jobs of the suite stored beside the results, methods without results included", async () => {
    const out = writeStore([makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.5 }), makeRecord({ method: 'full', task: 'fmnist-unseen', value: 0.6 })]);
    // The fields of <out>/suite.json the plan is read from (run writes the whole resolved suite).
    const suite = {
      suite: 'demo',
      tasks: tasks.map((task) => ({ task, dataset: 'fashion-mnist', group: 'demo' })),
      methods: ['linear', 'full', 'lora'].map((name) => ({ name, recipe: {} })),
      seeds: [0],
      backbones: [{ name: 'tiny', config: {}, weights: null }],
    };
    writeFileSync(join(out, 'suite.json'), JSON.stringify({ schema: 'visual-peft-bench/suite@1', hash: 'abc123', suite }));
    const result = await runCli('report', '--out', out);
    expect(result.code).toBe(0);
    const markdown = readFileSync(join(out, 'report', 'report.md'), 'utf8');
    expect(markdown).toContain('| lora | – | – | – | – | – |');
    expect(markdown).toContain('4 of 6 jobs of the suite have no result yet');
  });

  it('ends with one line naming the bad file and field, writing no report', async () => {
    const bad: ResultRecord = { ...records[0]!, metric: { name: 'top1', value: 2 } };
    const out = writeStore([records[1]!, bad]);
    const result = await runCli('report', '--out', out);
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([`visual-peft-bench: ${join(out, 'results', `${bad.job.id}.json`)}: metric.value must be <= 1, got 2`]);
    expect(existsSync(join(out, 'report'))).toBe(false);
  });

  it('needs --out', async () => {
    expect(await runCli('report')).toMatchObject({ code: 2, stderr: ['visual-peft-bench: report: --out is required'] });
  });
});

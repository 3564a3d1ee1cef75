import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '@visual-peft/vit-core';
import { makeRecord } from '../report/__fixtures__/make-record';
import type { Diagnostics, ResultRecord } from '../suite/result-record';
import { runCli } from '../run-cli';

function writeStore(records: readonly ResultRecord[]): string {
  const out = mkdtempSync(join(tmpdir(), 'visual-peft-report-'));
  mkdirSync(join(out, 'results'));
  for (const record of records) writeFileSync(join(out, 'results', `${record.job.id}.json`), JSON.stringify(record));
  return out;
}

const tasks = ['fmnist-unseen', 'fmnist-rotation'];

/** Each method's diagnostics of a seed, as schema 1 named them and as schema 2's records (what reading schema 1 gives). */
function methodDiagnostics(seed: number) {
  const channelScores = [0, 1, 2, 3].map(() => Array.from({ length: 8 }, (_, index) => index / 8));
  const salientChannels = [[0, 3], [seed, 5], [2, 7], [1, 6]];
  const nmi = [0.1, 0.2 + seed / 10, 0.3];
  const scalar = (value: number): Diagnostic => ({ kind: 'scalar', name: 'prompt-patch-nmi', title: 'prompt-patch NMI of the tokens entering block 1 (SPT, Figure 2)', value });
  const perBlock = (name: string, title: string, values: number[], firstBlock = 0): Diagnostic => ({ kind: 'per-block', name, title, firstBlock, values });
  return {
    'gated-prompt': {
      legacy: { gateSelectionRatios: [0.9, 0.5, 0.2, 0.1], temperatures: [1, 1, 1, 1], nmiPerEpoch: nmi },
      records: [
        { epoch: 0, methods: { 'gated-prompt': [scalar(nmi[0]!)] } },
        {
          epoch: 1,
          methods: {
            'gated-prompt': [
              scalar(nmi[1]!),
              perBlock('gate-selection-ratio', 'selection ratio of each gated block (GatedPT eq. 10-11, Figure 4)', [0.9, 0.5, 0.2, 0.1], 1),
              perBlock('attention-temperature', 'learned attention temperature of each block (GatedPT)', [1, 1, 1, 1]),
            ],
          },
        },
        { epoch: 2, methods: { 'gated-prompt': [scalar(nmi[2]!)] } },
      ],
    },
    vqt: {
      legacy: { queryBlockImportance: [0.1, 0.2, 0.3, 0.4] },
      records: [{ epoch: 1, methods: { vqt: [perBlock('query-importance-share', "share of the head's weight norm on each block's query features (VQT, schema 1)", [0.1, 0.2, 0.3, 0.4])] } }],
    },
    sct: {
      legacy: { salientChannels, channelScores },
      records: [
        { epoch: 1, methods: { sct: [{ kind: 'channels', name: 'salient-channels', title: 'channels chosen per block by class-aware importance (SCT, CAIS)', selected: salientChannels, scores: channelScores }] } },
      ],
    },
  } satisfies Record<string, { legacy: Record<string, unknown>; records: Diagnostics }>;
}

/** A demo store: five methods x two tasks x two seeds, with each method's own diagnostics (schema 1's named fields with `legacy`). */
function demoStore(legacy = false): ResultRecord[] {
  return tasks.flatMap((task, taskIndex) =>
    [0, 1].flatMap((seed) => {
      const diagnostics = methodDiagnostics(seed);
      const withDiagnostics = (method: keyof typeof diagnostics, record: ResultRecord): ResultRecord =>
        legacy ? ({ ...record, schema: 'visual-peft-bench/result@1', diagnostics: diagnostics[method].legacy } as unknown as ResultRecord) : { ...record, diagnostics: diagnostics[method].records };
      return [
        makeRecord({ method: 'linear', task, seed, value: 0.5 + taskIndex / 10 + seed / 100, trainable: 330 }),
        makeRecord({ method: 'full', task, seed, value: 0.7 + seed / 100, trainable: 60_000, peakBytes: 40 * 2 ** 20, stepSeconds: 0.2 }),
        withDiagnostics('gated-prompt', makeRecord({ method: 'gated-prompt', task, seed, value: 0.65, trainable: 2_000 })),
        withDiagnostics('vqt', makeRecord({ method: 'vqt', task, seed, value: 0.62, trainable: 1_500 })),
        withDiagnostics('sct', makeRecord({ method: 'sct', task, seed, value: 0.66, trainable: 1_200 })),
      ];
    }),
  );
}
const records = demoStore();

/** The markers of a plot: outline, colour and tooltip (which names the series). */
function markersOf(svg: string): { d: string; fill: string; title: string }[] {
  return [...svg.matchAll(/<path transform="[^"]+" d="([^"]+)" fill="([^"]+)"[^>]*><title>([^<]+)<\/title>/g)].map((match) => ({ d: match[1]!, fill: match[2]!, title: match[3]! }));
}

describe('visual-peft-bench report', () => {
  it('writes the tables (Markdown, CSV, JSON), every plot as SVG and PNG, and prints the tables', async () => {
    const out = writeStore(records);
    const result = await runCli('report', '--out', out);
    expect(result.code).toBe(0);
    expect(result.stdout.join('\n')).toContain('| gated-prompt | 65.0 ± 0.0 | 65.0 ± 0.0 | 65.0 |');
    expect(result.stderr).toEqual([`report: 20 results, 1 table, 10 plots in ${join(out, 'report')}`]);

    const report = join(out, 'report');
    const markdown = readFileSync(join(report, 'report.md'), 'utf8');
    const json = JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as { schema: string; tables: { rows: { method: string; cells: Record<string, { mean: number }> }[] }[]; plots: { name: string; png: string; svg: string }[] };
    expect(json.schema).toBe('visual-peft-bench/report@1');
    expect(json.tables[0]!.rows.find((row) => row.method === 'linear')!.cells['fmnist-rotation']!.mean).toBeCloseTo(60.5, 10);
    expect(json.plots.map((plot) => plot.name).sort()).toEqual([
      'accuracy-vs-parameters-demo-tiny',
      'attention-temperature-demo-tiny',
      'gate-selection-ratio-demo-tiny',
      'peak-memory-demo-tiny',
      'prompt-patch-nmi-demo-tiny-fmnist-rotation',
      'prompt-patch-nmi-demo-tiny-fmnist-unseen',
      'query-importance-share-demo-tiny',
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
    // Each plot by its kind, titled from the records: NMI over epochs (mean over seeds), gates over the blocks they feed (2 ..), SCT's channels.
    const nmi = readFileSync(join(report, 'plots', 'prompt-patch-nmi-demo-tiny-fmnist-unseen.svg'), 'utf8');
    expect(nmi).toContain('<title>prompt-patch NMI of the tokens entering block 1 (SPT, Figure 2): fmnist-unseen, tiny</title>');
    expect(markersOf(nmi).filter((marker) => marker.title.startsWith('gated-prompt, '))).toHaveLength(3);
    const gates = readFileSync(join(report, 'plots', 'gate-selection-ratio-demo-tiny.svg'), 'utf8');
    expect(gates).toContain('<title>fmnist-unseen, 2: 0.9</title>');
    expect(gates).toContain('<title>fmnist-rotation, 5: 0.1</title>');
    expect(readFileSync(join(report, 'plots', 'salient-channels-demo-tiny-sct-fmnist-unseen.svg'), 'utf8')).toContain('selected (share of 2 seeds)');
  });

  it('gives 20 methods pairwise distinct colour and marker pairs', async () => {
    const methods = Array.from({ length: 20 }, (_, index) => `method-${String(index).padStart(2, '0')}`);
    const out = writeStore(methods.map((method, index) => makeRecord({ method, task: 'fmnist-unseen', value: 0.5 + index / 100, trainable: 1_000 * (index + 1) })));
    expect((await runCli('report', '--out', out)).code).toBe(0);
    const svg = readFileSync(join(out, 'report', 'plots', 'accuracy-vs-parameters-demo-tiny.svg'), 'utf8');
    const markers = markersOf(svg);
    expect(markers.map((marker) => marker.title.split(':')[0]).sort()).toEqual(methods);
    expect(new Set(markers.map((marker) => `${marker.fill} ${marker.d}`)).size).toBe(20);
  });

  it('draws a method in the same colour and marker in every plot of the report', async () => {
    const out = writeStore(records);
    expect((await runCli('report', '--out', out)).code).toBe(0);
    const plot = (name: string) => markersOf(readFileSync(join(out, 'report', 'plots', `${name}.svg`), 'utf8'));
    const inScatter = plot('accuracy-vs-parameters-demo-tiny').find((marker) => marker.title.startsWith('gated-prompt: '))!;
    // The NMI plot's only series: by its index alone it would take the first style, as linear does in the scatter.
    const linear = plot('accuracy-vs-parameters-demo-tiny').find((marker) => marker.title.startsWith('linear: '))!;
    expect([inScatter.fill, inScatter.d]).not.toEqual([linear.fill, linear.d]);
    for (const task of tasks) {
      for (const marker of plot(`prompt-patch-nmi-demo-tiny-${task}`)) expect([marker.fill, marker.d]).toEqual([inScatter.fill, inScatter.d]);
    }
  });

  it('reports a store of the previous schema: the same plots from its named diagnostics', async () => {
    const current = writeStore(records);
    const legacy = writeStore(demoStore(true));
    expect((await runCli('report', '--out', current)).code).toBe(0);
    const result = await runCli('report', '--out', legacy);
    expect(result.code, result.stderr.join('\n')).toBe(0);
    const plots = (out: string) => (JSON.parse(readFileSync(join(out, 'report', 'report.json'), 'utf8')) as { plots: { name: string; svg: string }[] }).plots;
    expect(plots(legacy).map((plot) => plot.name)).toEqual(plots(current).map((plot) => plot.name));
    for (const plot of plots(current)) expect(readFileSync(join(legacy, 'report', plot.svg), 'utf8'), plot.name).toBe(readFileSync(join(current, 'report', plot.svg), 'utf8'));
  });

  it('skips plots without data, saying so in the Markdown', async () => {
    const out = writeStore([makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.5 }), makeRecord({ method: 'full', task: 'fmnist-rotation', value: 0.6 })]);
    const result = await runCli('report', '--out', out);
    expect(result.code).toBe(0);
    const markdown = readFileSync(join(out, 'report', 'report.md'), 'utf8');
    expect(markdown).toContain('- Accuracy versus trainable parameters (Demo, tiny): no method has a result for "Mean" yet.');
    expect(markdown).toContain('- Scalar diagnostics per epoch (Demo, tiny): no result holds a scalar diagnostic.');
    expect(markdown).toContain('- Per-block diagnostics (Demo, tiny): no result holds a per-block diagnostic.');
    expect(markdown).toContain('- Channel maps (Demo, tiny): no result holds a channels diagnostic.');
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

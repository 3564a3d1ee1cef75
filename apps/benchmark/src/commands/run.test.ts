import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PerBlockDiagnostic, ScalarDiagnostic } from '@visual-peft/vit-core';
import { runSuite } from './run';
import { DEMO_LEARNING_RATES } from '../demo/demo-suite';
import { runCli } from '../run-cli';
import { registerResidualScale } from './__fixtures__/residual-scale';
import { snapshot, storedResults, suiteRunArgs, tinyVit } from './__fixtures__/suite-run';
import type { JobProgress } from '../suite/run-job';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-run-'));
const data = join(directory, 'vtab-1k');
const quiet = { stdout: () => undefined, stderr: () => undefined };
// A method only this test defines: the suite runner takes it by name like the packages' methods.
registerResidualScale();

/** A tiny VTAB-1k suite: 32x32 ViT with 2 blocks, one task, 2 epochs, a 2-point grid. */
/** `fixed` methods get a one-point grid (no search), which keeps the file fast. */
function writeSuite(name: string, methods: string[], extraOptions: string[] = [], fixed: string[] = []): string {
  const path = join(directory, `${name}.yaml`);
  const options = [
    ...methods.filter((method) => ['gated-prompt', 'vpt-shallow', 'spt-shallow'].includes(method)).map((method) => `  ${method}: { numPrompts: 2 }`),
    ...(methods.includes('sct') ? ['  sct: { k: 4 }'] : []),
    ...extraOptions,
  ];
  writeFileSync(
    path,
    [
      'suite: vtab-1k',
      'tasks: [vtab-eurosat]',
      `methods: [${methods.join(', ')}]`,
      'seeds: [42]',
      'epochs: 2',
      'batchSize: 4',
      'grid: { learningRates: [0.5, 0.05], weightDecays: [0] }',
      ...(fixed.length > 0 ? ['recipes:', ...fixed.map((method) => `  ${method}: { grid: { learningRates: [0.05], weightDecays: [0] } }`)] : []),
      ...(options.length > 0 ? ['options:', ...options] : []),
    ].join('\n'),
  );
  return path;
}

const runArgs = (suite: string, out: string, ...extra: string[]) => suiteRunArgs(data, suite, out, ...extra);

describe('visual-peft-bench run', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', data, { count: 8 });
  });

  it('runs a suite end to end with the protocol, fills every field of each record and each method’s diagnostics', async () => {
    const out = join(directory, 'all');
    // Linear searches its 2-point grid; the others run their final run only, as SPT's fixed recipe does.
    const suite = writeSuite('all', ['linear', 'gated-prompt', 'spt-shallow', 'residual-scale', 'vqt', 'sct'], [], ['gated-prompt', 'spt-shallow', 'residual-scale', 'vqt', 'sct']);
    const before = tf.memory().numTensors;
    const { code, stdout, stderr } = await runCli(...runArgs(suite, out));
    expect(code, stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(JSON.parse(stdout.at(-1)!)).toMatchObject({ suite: 'vtab-1k', jobs: 6, ran: 6, skipped: 0, shard: '0/1' });
    // Plain progress lines per epoch with both ETAs, and one summary per job.
    expect(stderr).toContainEqual(expect.stringMatching(/^\[2\/6\] linear vtab-eurosat seed 42: search 1\/2 \(lr 0.5, wd 0\) epoch 1\/2, train loss [\d.]+ \| job ETA \S+, suite ETA \S+$/));
    expect(stderr.filter((line) => line.startsWith('done ['))).toHaveLength(6);
    expect(stderr.find((line) => line.startsWith('done [6/6]'))).toMatch(/^done \[6\/6\] vqt vtab-eurosat seed 42: lr 0.05 wd 0, test top1 \d+\.\d\d%, \S+ \(\d+\.\d s\)$/);

    const stored = JSON.parse(readFileSync(join(out, 'suite.json'), 'utf8'));
    const records = storedResults(out);
    expect([...records.keys()].sort()).toEqual(['linear', 'gated-prompt', 'spt-shallow', 'residual-scale', 'sct', 'vqt'].map((method) => `tiny-vit__vtab-eurosat__${method}__seed42`).sort());
    expect(existsSync(join(out, 'work', 'tiny-vit__vtab-eurosat__linear__seed42'))).toBe(false);
    for (const record of records.values()) {
      expect(record).toMatchObject({ schema: 'visual-peft-bench/result@2', suite: 'vtab-1k', suiteHash: stored.hash, metric: { name: 'top1' } });
      expect(record.job).toMatchObject({ task: 'vtab-eurosat', group: 'specialized', seed: 42, backbone: 'tiny-vit' });
      expect(record.metric.value).toBeGreaterThanOrEqual(0);
      expect(record.metric.value).toBeLessThanOrEqual(1);
      expect(record.protocol).toMatchObject({ searchSplits: { train: 'train800', validation: 'val200' }, finalSplits: { train: 'train800val200', test: 'test' }, epochs: 2, batchSize: 4 });
      expect(record.parameters.trainable).toBeGreaterThan(0);
      expect(record.timing.stepSeconds).toBeGreaterThan(0);
      expect(record.timing.peakBytes).toBeGreaterThan(0);
      expect(record.timing.seconds).toBeGreaterThan(0);
      expect(record.timing).toMatchObject({ microBatch: 4, recompute: false });
      expect(record.environment).toMatchObject({ backend: 'cpu', backendPackage: '@tensorflow/tfjs-backend-cpu', node: process.version });
      expect(Object.keys(record.environment.packages)).toContain('@visual-peft/vit-core');
    }
    const byMethod = (method: string) => records.get(`tiny-vit__vtab-eurosat__${method}__seed42`)!;
    // The suite's backbone family (supervised by default) and each method's classifier, as its official code builds it.
    expect(stored.suite.family).toBe('supervised');
    expect(Object.fromEntries(['linear', 'gated-prompt', 'spt-shallow', 'residual-scale', 'vqt', 'sct'].map((method) => [method, byMethod(method).protocol.head]))).toEqual({
      linear: { pool: 'token', norm: 'checkpoint', init: 'vpt', std: null },
      'gated-prompt': { pool: 'token', norm: 'checkpoint', init: 'vpt', std: null },
      'spt-shallow': { pool: 'token', norm: 'checkpoint', init: 'timm', std: null },
      'residual-scale': { pool: 'token', norm: 'checkpoint', init: 'vpt', std: null },
      vqt: { pool: 'token', norm: 'checkpoint', init: 'vpt', std: null },
      sct: { pool: 'token', norm: 'checkpoint', init: 'torch', std: null },
    });
    for (const record of records.values()) expect(record.protocol.family).toBe('supervised');
    // A searched grid: both points scored on val200, the best one chosen.
    const linear = byMethod('linear');
    expect(linear.protocol.grid.map((point) => point.learningRate)).toEqual([0.5, 0.05]);
    const best = Math.max(...linear.protocol.grid.map((point) => point.score!));
    expect(linear.protocol.grid.find((point) => point.learningRate === linear.protocol.chosen.learningRate)!.score).toBe(best);
    // The final run's diagnostics before training (epoch -1) and after each epoch, by the method's name: none for a method without them.
    expect(linear.diagnostics).toEqual([{ epoch: -1, methods: {} }, { epoch: 0, methods: {} }, { epoch: 1, methods: {} }]);
    const scale = byMethod('residual-scale');
    expect(scale.protocol).toMatchObject({ grid: [{ learningRate: 0.05, weightDecay: 0, score: null, failure: null }], optimizer: 'sgd', options: { seed: 42 } });
    expect(scale.parameters.extra).toBe(2);
    expect(scale.diagnostics.map((entry) => entry.epoch)).toEqual([-1, 0, 1]);
    for (const { methods } of scale.diagnostics) {
      expect(methods['residual-scale']!.map((diagnostic) => `${diagnostic.kind}:${diagnostic.name}`)).toEqual(['per-block:mlp-scale', 'scalar:probe-mean-logit']);
    }
    // The scales start at 1 and train away from it over the two epochs.
    const scales = scale.diagnostics.map(({ methods }) => (methods['residual-scale']![0] as PerBlockDiagnostic).values);
    expect(scales[1]).toHaveLength(2);
    expect(scales[0]).toEqual([1, 1]);
    expect(scales[2]).not.toEqual(scales[1]);
    expect(scales[2]!.some((value) => value !== 1)).toBe(true);
    // Every record's diagnostics are per epoch of the final run, in order, under the method's name.
    // Keyed by the method's own name: SPT's recipe runs vpt-shallow with its data-dependent init.
    const reported = (job: string, epoch: number, method = job) => byMethod(job).diagnostics.find((entry) => entry.epoch === epoch)!.methods[method]!;
    const named = (method: string, epoch: number, name: string) => reported(method, epoch).find((diagnostic) => diagnostic.name === name)!;
    for (const method of ['gated-prompt', 'spt-shallow', 'vqt', 'sct']) expect(byMethod(method).diagnostics.map((entry) => entry.epoch)).toEqual([-1, 0, 1]);
    // SPT fixes lr and wd (no search), initialises its prompts by k-means, and reports the prompt-patch NMI (block 1's and
    // every block's) at initialisation, SPT's Figure 2's point, and every epoch.
    const spt = byMethod('spt-shallow');
    expect(spt.protocol).toMatchObject({ grid: [{ learningRate: 0.05, weightDecay: 0, score: null, failure: null }], optimizer: 'adamw', options: { init: 'kmeans', numPrompts: 2, seed: 42 } });
    for (const epoch of [-1, 0, 1]) {
      expect(reported('spt-shallow', epoch, 'vpt-shallow').map((diagnostic) => `${diagnostic.kind}:${diagnostic.name}`)).toEqual(['scalar:prompt-patch-nmi', 'per-block:prompt-patch-nmi-per-block']);
    }
    const initialNmi = reported('spt-shallow', -1, 'vpt-shallow');
    expect(initialNmi[1]).toMatchObject({ firstBlock: 0, values: [(initialNmi[0] as ScalarDiagnostic).value, expect.any(Number)] });
    // GatedPT: NMI, one gate (after block 0 of 2, feeding block 1) and a temperature per block.
    expect(reported('gated-prompt', 1).map((diagnostic) => `${diagnostic.kind}:${diagnostic.name}`).sort()).toEqual([
      'per-block:attention-temperature',
      'per-block:gate-selection-ratio',
      'per-block:prompt-patch-nmi-per-block',
      'scalar:prompt-patch-nmi',
    ]);
    expect(named('gated-prompt', 1, 'gate-selection-ratio')).toMatchObject({ firstBlock: 1, values: [expect.any(Number)] });
    expect((named('gated-prompt', 1, 'attention-temperature') as PerBlockDiagnostic).values).toHaveLength(2);
    const nmi = named('gated-prompt', 1, 'prompt-patch-nmi');
    expect(nmi.kind === 'scalar' && nmi.value >= 0 && nmi.value <= 1).toBe(true);
    // VQT: each group's importance (mean head-weight L2 norm of its features), per block and for CLS on one scale.
    expect(reported('vqt', 1).map((diagnostic) => `${diagnostic.kind}:${diagnostic.name}`)).toEqual(['per-block:query-importance', 'scalar:cls-importance']);
    const importance = named('vqt', 1, 'query-importance') as PerBlockDiagnostic;
    expect(importance).toMatchObject({ firstBlock: 0, values: [expect.any(Number), expect.any(Number)] });
    const cls = named('vqt', 1, 'cls-importance');
    if (cls.kind !== 'scalar') throw new Error(`vqt reported ${JSON.stringify(cls)}`);
    // Trained heads have no zero rows: every group's mean norm is positive, and they differ from epoch 0's.
    for (const value of [...importance.values, cls.value]) expect(value).toBeGreaterThan(0);
    expect((named('vqt', 0, 'query-importance') as PerBlockDiagnostic).values).not.toEqual(importance.values);
    // SCT: the chosen channels are the top-4 CAIS scores of each block.
    const channels = named('sct', 1, 'salient-channels');
    if (channels.kind !== 'channels' || channels.scores === null) throw new Error(`sct reported ${JSON.stringify(channels)}`);
    expect(channels.selected.map((selected) => selected.length)).toEqual([4, 4]);
    expect(channels.scores.map((scores) => scores.length)).toEqual([32, 32]);
    channels.scores.forEach((scores, block) => {
      const top = scores.map((score, channel) => [score, channel] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 4).map(([, channel]) => channel).sort((a, b) => a - b);
      expect(channels.selected[block]).toEqual(top);
    });

    // Its diagnostics reach the report: one plot over blocks, one over epochs.
    expect((await runCli('report', '--out', out)).code).toBe(0);
    const plots = (JSON.parse(readFileSync(join(out, 'report', 'report.json'), 'utf8')) as { plots: { name: string }[] }).plots.map((plot) => plot.name);
    expect(plots).toEqual(expect.arrayContaining(['mlp-scale-vtab-1k-tiny-vit', 'probe-mean-logit-vtab-1k-tiny-vit-eurosat']));

    // Running it again skips every finished job.
    const again = await runCli(...runArgs(suite, out));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout.at(-1)!)).toMatchObject({ jobs: 6, ran: 0, skipped: 6 });
  });

  it('resumes after an interruption: nothing finished is lost and the store equals an uninterrupted run’s', async () => {
    const suite = writeSuite('resume', ['linear', 'vpt-shallow'], [], ['linear']);
    const full = join(directory, 'resume-full');
    expect((await runCli(...runArgs(suite, full))).code).toBe(0);

    const out = join(directory, 'resume');
    const controller = new AbortController();
    let finished = 0;
    // Stop in the second job's final run, during its second epoch: its first epoch is checkpointed.
    const stopInFinal = (progress: JobProgress) => {
      if (finished === 1 && progress.phase === 'final' && progress.event.type === 'step' && progress.event.epoch === 1) controller.abort();
    };
    await expect(runSuite(runArgs(suite, out).slice(1), quiet, { signal: controller.signal, onJobFinished: () => (finished += 1), onProgress: stopInFinal })).rejects.toThrow(
      /interrupted during job tiny-vit__vtab-eurosat__vpt-shallow__seed42; run the same command again to resume it/,
    );
    expect([...storedResults(out).keys()]).toEqual(['tiny-vit__vtab-eurosat__linear__seed42']);
    const work = join(out, 'work', 'tiny-vit__vtab-eurosat__vpt-shallow__seed42');
    expect(JSON.parse(readFileSync(join(work, 'state.json'), 'utf8')).grid).toHaveLength(2);
    expect(existsSync(join(work, 'final', 'checkpoint.json'))).toBe(true);

    const events: JobProgress[] = [];
    await runSuite(runArgs(suite, out).slice(1), quiet, { onProgress: (progress) => events.push(progress) });
    // The interrupted job picked up its final run at epoch 2, without searching again.
    expect(events[0]).toMatchObject({ phase: 'final', event: { epoch: 1 } });
    const resumed = storedResults(out);
    const uninterrupted = storedResults(full);
    // The interrupted job still ends with its tuned weights, those of the model its record scores.
    const kept = join(out, 'weights', 'tiny-vit__vtab-eurosat__vpt-shallow__seed42');
    expect(resumed.get('tiny-vit__vtab-eurosat__vpt-shallow__seed42')!.weights).toBe('weights/tiny-vit__vtab-eurosat__vpt-shallow__seed42');
    expect(JSON.parse(readFileSync(join(kept, 'tuned.json'), 'utf8')).methods).toEqual(JSON.parse(readFileSync(join(full, 'weights', 'tiny-vit__vtab-eurosat__vpt-shallow__seed42', 'tuned.json'), 'utf8')).methods);
    expect([...resumed.keys()].sort()).toEqual([...uninterrupted.keys()].sort());
    for (const [id, record] of resumed) {
      const reference = uninterrupted.get(id)!;
      expect(record.protocol, id).toEqual(reference.protocol);
      // The epochs before the stop come from the checkpoint's history, the rest from the resumed session.
      expect(record.diagnostics.map((entry) => entry.epoch), id).toEqual(reference.diagnostics.map((entry) => entry.epoch));
      expect(record.metric.value, id).toBeCloseTo(reference.metric.value, 5);
    }
  });

  it('runs shards that merge into the unsharded job set, and refuses to merge records that disagree', async () => {
    const suite = writeSuite('shards', ['linear', 'bias', 'vqt'], [], ['linear', 'bias', 'vqt']);
    const shards = ['0/2', '1/2'].map((shard, index) => ({ shard, out: join(directory, `shard-${index}`) }));
    for (const { shard, out } of shards) {
      const { code, stdout } = await runCli(...runArgs(suite, out, '--shard', shard));
      expect(code).toBe(0);
      expect(JSON.parse(stdout.at(-1)!)).toMatchObject({ shard, jobs: shard === '0/2' ? 2 : 1 });
    }
    const merged = join(directory, 'merged');
    const { code, stdout } = await runCli('merge', '--out', merged, ...shards.map(({ out }) => out));
    expect(code).toBe(0);
    expect(JSON.parse(stdout[0]!)).toMatchObject({ shards: 2, records: 3, added: 3 });
    expect([...storedResults(merged).keys()].sort()).toEqual(['bias', 'linear', 'vqt'].map((method) => `tiny-vit__vtab-eurosat__${method}__seed42`));
    expect(readFileSync(join(merged, 'suite.json'), 'utf8')).toBe(readFileSync(join(shards[0]!.out, 'suite.json'), 'utf8'));
    // Merging again is a no-op; merging a shard into itself is fine (identical duplicates).
    expect(JSON.parse((await runCli('merge', '--out', merged, shards[0]!.out, shards[0]!.out)).stdout[0]!)).toMatchObject({ added: 0 });

    // A duplicate that differs, and a shard of another configuration, are refused before anything is written.
    const bias = 'tiny-vit__vtab-eurosat__bias__seed42.json';
    const record = JSON.parse(readFileSync(join(shards[0]!.out, 'results', bias), 'utf8'));
    writeFileSync(join(shards[1]!.out, 'results', bias), JSON.stringify({ ...record, metric: { name: 'top1', value: 0.123 } }));
    const target = join(directory, 'merged-bad');
    const conflict = await runCli('merge', '--out', target, ...shards.map(({ out }) => out));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr.at(-1)).toMatch(/merge: job tiny-vit__vtab-eurosat__bias__seed42 differs between .*shard-0 and .*shard-1 \(metric.value: [\d.]+ there, 0.123 here\)$/);
    expect(existsSync(target)).toBe(false);
    const other = join(directory, 'shard-seed44');
    expect((await runCli(...runArgs(suite, other, '--shard', '1/2', '--seeds', '44'))).code).toBe(0);
    const mismatch = await runCli('merge', '--out', target, shards[0]!.out, other);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr.at(-1)).toMatch(/merge: .*shard-seed44 holds another suite configuration than .*shard-0 \(seeds\[0\]: 42 there, 44 here\)$/);
    expect(existsSync(target)).toBe(false);
  });

  it('runs variants of a method beside its base into one store and report, and merges stores that ran other variants', async () => {
    // One epoch, a one-point grid; the variants inherit the base's k: 4.
    const suite = join(directory, 'variants.yaml');
    writeFileSync(
      suite,
      ['suite: vtab-1k', 'tasks: [vtab-eurosat]', "methods: [sct, 'sct[selection=random]', 'sct[scale=0.5]']", 'seeds: [42]', 'epochs: 1', 'batchSize: 4', 'grid: { learningRates: [0.05], weightDecays: [0] }', 'options:', '  sct: { k: 4 }'].join('\n'),
    );
    // Two stores of the same suite that ran different variants (the command line's list keeps a variant's commas).
    const first = join(directory, 'variants-a');
    const second = join(directory, 'variants-b');
    const a = await runCli(...runArgs(suite, first, '--methods', 'sct,sct[selection=random]'));
    expect(a.code, a.stderr.join('\n')).toBe(0);
    const b = await runCli(...runArgs(suite, second, '--methods', 'sct[scale=0.5]'));
    expect(b.code, b.stderr.join('\n')).toBe(0);
    const ids = { sct: 'tiny-vit__vtab-eurosat__sct__seed42', random: 'tiny-vit__vtab-eurosat__sct@selection=random__seed42', scale: 'tiny-vit__vtab-eurosat__sct@scale=0.5__seed42' };
    const records = storedResults(first);
    expect([...records.keys()].sort()).toEqual([ids.random, ids.sct]);
    expect(records.get(ids.random)!.job.method).toBe('sct[selection=random]');
    expect(records.get(ids.random)!.protocol.options).toMatchObject({ k: [4, 4], selection: 'random', scale: 1 });
    expect(storedResults(second).get(ids.scale)!.protocol.options).toMatchObject({ k: [4, 4], selection: 'salient', scale: 0.5 });

    const merged = join(directory, 'variants-merged');
    const joined = await runCli('merge', '--out', merged, first, second);
    expect(joined.code, joined.stderr.join('\n')).toBe(0);
    expect(JSON.parse(joined.stdout[0]!)).toMatchObject({ records: 3, added: 3 });
    const stored = JSON.parse(readFileSync(join(merged, 'suite.json'), 'utf8'));
    expect(stored.suite.methods.map((method: { name: string }) => method.name)).toEqual(['sct', 'sct[selection=random]', 'sct[scale=0.5]']);
    expect(stored.joined).toEqual([JSON.parse(a.stdout.at(-1)!).hash, JSON.parse(b.stdout.at(-1)!).hash].sort());
    // The merged store is the whole suite's: running it finds every job finished; merging again adds nothing.
    const whole = await runCli(...runArgs(suite, merged));
    expect(whole.code, whole.stderr.join('\n')).toBe(0);
    expect(JSON.parse(whole.stdout.at(-1)!)).toMatchObject({ hash: stored.hash, jobs: 3, ran: 0, skipped: 3 });
    expect(JSON.parse((await runCli('merge', '--out', merged, second)).stdout[0]!)).toMatchObject({ added: 0 });
    // A method both stores ran must have one recipe.
    const altered = join(directory, 'variants-altered');
    mkdirSync(join(altered, 'results'), { recursive: true });
    const copy = JSON.parse(readFileSync(join(second, 'suite.json'), 'utf8'));
    copy.suite.methods[0].recipe.epochs = 2;
    writeFileSync(join(altered, 'suite.json'), JSON.stringify({ ...copy, hash: '0123456789abcdef' }));
    const refused = await runCli('merge', '--out', join(directory, 'variants-refused'), merged, altered);
    expect(refused.code).toBe(1);
    expect(refused.stderr.at(-1)).toMatch(/holds another suite configuration than .*variants-merged \(methods\.sct\[scale=0\.5\]\.recipe\.epochs: 1 there, 2 here\)$/);

    // One report: a row per variant, after its base, each in its own style.
    const report = await runCli('report', '--out', merged);
    expect(report.code, report.stderr.join('\n')).toBe(0);
    const json = JSON.parse(readFileSync(join(merged, 'report', 'report.json'), 'utf8')) as { tables: { rows: { method: string }[] }[]; plots: { name: string }[] };
    expect(json.tables[0]!.rows.map((row) => row.method)).toEqual(['sct', 'sct[scale=0.5]', 'sct[selection=random]']);
    expect(json.plots.map((plot) => plot.name).filter((name) => name.startsWith('salient-channels')).sort()).toEqual([
      'salient-channels-vtab-1k-tiny-vit-sct-eurosat',
      'salient-channels-vtab-1k-tiny-vit-sct-scale-0.5-eurosat',
      'salient-channels-vtab-1k-tiny-vit-sct-selection-random-eurosat',
    ].sort());

    // A bad option in a variant's name: one line naming the variant, the option, its value and the rule, before any job.
    const bad = await runCli(...runArgs(suite, join(directory, 'variants-bad'), '--methods', 'sct,sct[selection=randm]'));
    expect(bad.code).toBe(1);
    expect(bad.stderr.at(-1)).toBe('visual-peft-bench: method sct[selection=randm]: option selection must be one of salient, insalient, random, got "randm"');
    expect(existsSync(join(directory, 'variants-bad', 'results'))).toBe(false);
    const unknown = await runCli(...runArgs(suite, join(directory, 'variants-bad'), '--methods', 'sct[colour=red]'));
    expect(unknown.stderr.at(-1)).toMatch(/^visual-peft-bench: method sct\[colour=red\]: option colour is not an option \(options: k, .*\), got "red"$/);
  });

  it('refuses an --out holding another configuration’s results without touching it', async () => {
    const suite = writeSuite('mismatch', ['linear']);
    const out = join(directory, 'mismatch');
    expect((await runCli(...runArgs(suite, out))).code).toBe(0);
    const before = snapshot(out);
    const { code, stderr } = await runCli(...runArgs(suite, out, '--seeds', '44'));
    expect(code).toBe(1);
    expect(stderr.at(-1)).toMatch(/^visual-peft-bench: --out .*mismatch holds results of another suite configuration \(seeds\[0\]: 42 there, 44 here\); give a new --out/);
    expect(snapshot(out)).toEqual(before);
  });

  it('runs the demo suite on the committed data and backbones without --data or --backbone, and reports it', async () => {
    const suite = join(directory, 'demo.yaml');
    writeFileSync(suite, 'suite: demo\nmethods: [linear]\nepochs: 2\n');
    const out = join(directory, 'demo');
    const { code, stdout, stderr } = await runCli('run', '--suite', suite, '--out', out, '--backend', 'wasm');
    expect(code, stderr.join('\n')).toBe(0);
    expect(JSON.parse(stdout.at(-1)!)).toMatchObject({ suite: 'demo', jobs: 4, ran: 4 });
    const records = [...storedResults(out).values()];
    expect(records.map((record) => record.job.id).sort()).toEqual(
      ['mae', 'supervised'].flatMap((backbone) => ['fmnist-rotation', 'fmnist-unseen'].map((task) => `${backbone}__${task}__linear__seed42`)),
    );
    for (const record of records) {
      expect(record.protocol).toMatchObject({ finalSplits: { train: 'train800val200', test: 'test' }, epochs: 2, batchSize: 32, grid: [{ learningRate: DEMO_LEARNING_RATES.linear, weightDecay: 0, score: null }] });
      expect(record.metric.value).toBeGreaterThanOrEqual(0);
      expect(record.metric.value).toBeLessThanOrEqual(1);
    }
    // Pretrained features: the unseen classes well above chance (0.2) after two epochs of the head.
    for (const record of records.filter((candidate) => candidate.job.task === 'fmnist-unseen')) expect(record.metric.value, record.job.id).toBeGreaterThan(0.4);
    const report = await runCli('report', '--out', out);
    expect(report.code, report.stderr.join('\n')).toBe(0);
    expect(report.stdout.join('\n')).toMatch(/fmnist-unseen/);
  });

  it('runs micro-batches (and recompute where a method back-propagates through the blocks) without changing the suite’s hash: a run without them finds the jobs finished', async () => {
    const suite = writeSuite('micro', ['linear', 'bias'], [], ['linear', 'bias']);
    const out = join(directory, 'micro');
    const split = await runCli(...runArgs(suite, out, '--micro-batch', '3', '--recompute'));
    expect(split.code, split.stderr.join('\n')).toBe(0);
    expect(split.stderr).toContain('tiny-vit__vtab-eurosat__linear__seed42: micro-batch 3 of 4 images per pass');
    // The linear probe's backbone runs off the tape: nothing to recompute, and its record says so.
    expect(storedResults(out).get('tiny-vit__vtab-eurosat__linear__seed42')!.timing).toMatchObject({ microBatch: 3, recompute: false });
    expect(storedResults(out).get('tiny-vit__vtab-eurosat__bias__seed42')!.timing).toMatchObject({ microBatch: 3, recompute: true });
    const plain = await runCli(...runArgs(suite, out));
    expect(plain.code, plain.stderr.join('\n')).toBe(0);
    expect(JSON.parse(plain.stdout.at(-1)!)).toMatchObject({ hash: JSON.parse(split.stdout.at(-1)!).hash, jobs: 2, ran: 0, skipped: 2 });
    const auto = await runCli(...runArgs(writeSuite('micro-auto', ['linear'], [], ['linear']), join(directory, 'micro-auto'), '--micro-batch', 'auto'));
    expect(auto.code, auto.stderr.join('\n')).toBe(0);
    expect(auto.stderr.filter((line) => line.includes(': micro-batch '))).toEqual([expect.stringMatching(/^tiny-vit__vtab-eurosat__linear__seed42: micro-batch [1-4] of 4 images per pass \(auto: /)]);
    // A suite whose every method trains without back-propagating through the blocks refuses --recompute before anything runs.
    const refused = await runCli(...runArgs(writeSuite('no-recompute', ['linear', 'vqt'], [], ['linear', 'vqt']), join(directory, 'no-recompute'), '--recompute'));
    expect(refused.code).toBe(2);
    expect(refused.stderr.at(-1)).toMatch(/--recompute recomputes the backbone's blocks in the backward pass, and linear, vqt do not back-propagate through them .*: drop --recompute$/);
    expect(existsSync(join(directory, 'no-recompute'))).toBe(false);
  });

  it('ends bad input with one line and the exit code of its kind', async () => {
    const suite = writeSuite('bad', ['linear']);
    const out = join(directory, 'bad');
    const bad = async (code: number, pattern: RegExp, ...argv: string[]) => {
      const result = await runCli(...argv);
      expect(result.code, result.stderr.join('\n')).toBe(code);
      expect(result.stderr.at(-1)).toMatch(pattern);
    };
    await bad(2, /--suite must be one of demo, fgvc, vtab-1k, ade20k or a .json/, ...runArgs('imagenet', out, '--methods', 'linear'));
    await bad(2, /--methods: each must be one of linear, .*, got "lasso"/, ...runArgs('vtab-1k', out, '--methods', 'lasso'));
    await bad(2, /--backbone must be one of/, 'run', '--suite', suite, '--backbone', 'vit_huge', '--data', data, '--out', out);
    await bad(2, /--shard must be i\/n/, ...runArgs(suite, out, '--shard', '2/2'));
    await bad(2, /^visual-peft-bench: run: --plan estimates the whole suite \(or a --shard of it\); --only applies to a run$/, ...runArgs(suite, out, '--plan', '--only', 'tiny-vit__vtab-eurosat__linear__seed42'));
    await bad(2, /^visual-peft-bench: --only: "tiny-vit__vtab-eurosat__lasso__seed42" is not a job of this suite; its jobs: tiny-vit__vtab-eurosat__linear__seed42$/, ...runArgs(suite, out, '--only', 'tiny-vit__vtab-eurosat__lasso__seed42'));
    await bad(2, /--seeds must be non-negative integers, got "x"/, ...runArgs(suite, out, '--seeds', '1,x'));
    await bad(2, /--data is required/, 'run', '--suite', suite, '--backbone', tinyVit('config.json'), '--out', out);
    await bad(2, /^visual-peft-bench: --micro-batch must be auto or an integer from 1 to the batch size \(4 in the recipe of linear\), got "5"$/, ...runArgs(suite, out, '--micro-batch', '5'));
    await bad(2, /--micro-batch must be auto or an integer from 1 to the batch size \(4 in the recipe of linear\), got "0"$/, ...runArgs(suite, out, '--micro-batch', '0'));
    // A data root without the task's files: the datasets package's own error.
    await bad(1, /eurosat/, 'run', '--suite', suite, '--backbone', tinyVit('config.json'), '--data', join(directory, 'nowhere'), '--out', out, '--backend', 'cpu');
    // A method option the method does not know.
    await bad(1, /options of vqt \(\{"numQueries":0\}\): numQueries must hold positive integers/, ...runArgs(writeSuite('bad-option', ['vqt'], ['  vqt: { numQueries: 0 }']), out));
    expect(existsSync(out)).toBe(false);
  });
});

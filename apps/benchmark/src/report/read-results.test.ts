import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRecord } from './__fixtures__/make-record';
import { ResultFileError, validateResultRecord } from '../suite/validate-record';
import { readResults } from './read-results';

function store(files: Record<string, unknown>): string {
  const out = mkdtempSync(join(tmpdir(), 'visual-peft-results-'));
  mkdirSync(join(out, 'results'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(out, 'results', name), typeof content === 'string' ? content : JSON.stringify(content));
  return out;
}

const SCALAR = { kind: 'scalar', name: 'nmi', title: 'NMI (test)', value: 0.5 } as const;
const good = makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.5, diagnostics: [{ epoch: 0, methods: { linear: [SCALAR] } }] });
const file = `/store/results/${good.job.id}.json`;

/** A copy of the good record with one field replaced (dotted path). */
function broken(path: string, value: unknown): unknown {
  const copy = structuredClone(good) as unknown as Record<string, unknown>;
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  // JSON drops undefined fields, as a file missing the field would.
  target[keys.at(-1)!] = value;
  return JSON.parse(JSON.stringify(copy));
}

describe('validateResultRecord', () => {
  it('accepts a complete record', () => {
    expect(validateResultRecord(structuredClone(good), file)).toEqual(good);
  });

  it('loads a record written before micro-batches: without timing.microBatch and timing.recompute', () => {
    const older = broken('timing.microBatch', undefined) as { timing: Record<string, unknown> };
    delete older.timing.recompute;
    expect(Object.keys(older.timing)).toEqual(['seconds', 'stepSeconds', 'peakBytes']);
    expect(validateResultRecord(older, file).timing).toEqual({ seconds: 12, stepSeconds: 0.05, peakBytes: 8 * 2 ** 20 });
  });

  it.each([
    ['schema', 'visual-peft-bench/result@0', 'schema must be "visual-peft-bench/result@2" (or the previous "visual-peft-bench/result@1"), got "visual-peft-bench/result@0"'],
    ['suite', 'imagenet', 'suite must be one of demo, fgvc, vtab-1k, ade20k, got "imagenet"'],
    ['job.seed', 1.5, 'job.seed must be an integer, got 1.5'],
    ['job.group', 'other', 'job.group must be one of natural, specialized, structured, fgvc, ade20k, demo, got "other"'],
    ['job.id', 'tiny__x__linear__seed0', 'job.id must equal the file name "tiny__fmnist-unseen__linear__seed0", got "tiny__x__linear__seed0"'],
    ['metric.value', 1.5, 'metric.value must be <= 1, got 1.5'],
    ['metric.name', 'top5', 'metric.name must be one of top1, mIoU, got "top5"'],
    ['parameters.total', undefined, 'parameters.total must be a finite number, got undefined'],
    ['parameters.trainable', 2_000_000, 'parameters.trainable must be <= parameters.total (1010000), got 2000000'],
    ['timing.peakBytes', -1, 'timing.peakBytes must be >= 0, got -1'],
    ['timing.microBatch', 0, 'timing.microBatch must be >= 1, got 0'],
    ['timing.microBatch', 9, 'timing.microBatch must be <= 8, got 9'],
    ['timing.microBatch', 2.5, 'timing.microBatch must be an integer, got 2.5'],
    ['timing.recompute', 'yes', 'timing.recompute must be true or false, got "yes"'],
    ['protocol.grid', [], 'protocol.grid must be a non-empty array, got []'],
    ['diagnostics', {}, 'diagnostics must be an array (one entry per epoch), got {}'],
    ['diagnostics', [{ epoch: 1, methods: {} }, { epoch: 1, methods: {} }], "diagnostics[1].epoch must be after the previous entry's (1), got 1"],
    ['diagnostics', [{ epoch: -2, methods: {} }], 'diagnostics[0].epoch must be >= -1, got -2'],
    ['diagnostics', [{ epoch: 0, methods: {} }, { epoch: -1, methods: {} }], "diagnostics[1].epoch must be after the previous entry's (0), got -1"],
    ['diagnostics', [{ epoch: 0, methods: { m: [{ kind: 'histogram', name: 'h', title: 't' }] } }], 'diagnostics[0].methods.m[0].kind must be one of scalar, per-block, channels, got "histogram"'],
    ['diagnostics', [{ epoch: 0, methods: { m: [{ kind: 'scalar', name: 'Gate', title: 't', value: 1 }] } }], 'diagnostics[0].methods.m[0].name must be kebab-case, got "Gate"'],
    ['diagnostics', [{ epoch: 0, methods: { m: [SCALAR, SCALAR] } }], 'diagnostics[0].methods.m[1].name must be unique within m, got "nmi"'],
    ['diagnostics', [{ epoch: 0, methods: { m: [{ ...SCALAR, value: null }] } }], 'diagnostics[0].methods.m[0].value must be a finite number, got null'],
    ['diagnostics', [{ epoch: 0, methods: { m: [{ kind: 'per-block', name: 'g', title: 't', firstBlock: -1, values: [] }] } }], 'diagnostics[0].methods.m[0].firstBlock must be >= 0, got -1'],
    ['diagnostics', [{ epoch: 0, methods: { m: [{ kind: 'channels', name: 'c', title: 't', selected: [[1, 2], [3, 'x']], scores: null }] } }], 'diagnostics[0].methods.m[0].selected[1][1] must be a finite number, got "x"'],
    ['diagnostics', [{ epoch: 0, methods: { m: [{ kind: 'channels', name: 'c', title: 't', selected: [[0.5]], scores: null }] } }], 'diagnostics[0].methods.m[0].selected[0][0] must be an integer, got 0.5'],
    ['environment.device', '', 'environment.device must be a non-empty string, got ""'],
  ])('names the file and the field when %s is wrong', (path, value, message) => {
    expect(() => validateResultRecord(broken(path, value), file)).toThrow(ResultFileError);
    expect(() => validateResultRecord(broken(path, value), file)).toThrow(`${file}: ${message}`);
  });
});

describe('diagnostics collected before training', () => {
  it('read as an entry of epoch -1 before the epochs', () => {
    const diagnostics = [{ epoch: -1, methods: {} }, { epoch: 0, methods: {} }];
    expect(validateResultRecord({ ...structuredClone(good), diagnostics }, file).diagnostics).toEqual(diagnostics);
  });
});

describe('records of the previous schema', () => {
  const legacy = (diagnostics: Record<string, unknown>) => ({ ...structuredClone(good), schema: 'visual-peft-bench/result@1', diagnostics });

  it('read as today’s: named diagnostics become typed records of the job’s method, NMI per epoch, the rest in the last epoch', () => {
    const record = validateResultRecord(
      legacy({ nmiPerEpoch: [0.1, 0.2], gateSelectionRatios: [0.9, 0.4], temperatures: [1, 2, 3], queryBlockImportance: [0.25, 0.75], salientChannels: [[1], [0]], channelScores: [[0, 1], [1, 0]] }),
      file,
    );
    expect(record.schema).toBe('visual-peft-bench/result@2');
    expect(record.diagnostics.map((entry) => entry.epoch)).toEqual([0, 1]);
    expect(record.diagnostics[0]!.methods).toEqual({ linear: [{ kind: 'scalar', name: 'prompt-patch-nmi', title: expect.stringContaining('SPT, Figure 2'), value: 0.1 }] });
    expect(record.diagnostics[1]!.methods.linear!.map((diagnostic) => [diagnostic.kind, diagnostic.name])).toEqual([
      ['scalar', 'prompt-patch-nmi'],
      ['per-block', 'gate-selection-ratio'],
      ['per-block', 'attention-temperature'],
      ['per-block', 'query-importance-share'],
      ['channels', 'salient-channels'],
    ]);
    expect(record.diagnostics[1]!.methods.linear![4]).toMatchObject({ selected: [[1], [0]], scores: [[0, 1], [1, 0]] });
    expect(validateResultRecord(legacy({}), file).diagnostics).toEqual([]);
  });

  it('still checks the named fields, naming them', () => {
    expect(() => validateResultRecord(legacy({ salientChannels: [[1, 2], [3, 'x']] }), file)).toThrow(`${file}: diagnostics.salientChannels[1][1] must be a finite number, got "x"`);
    expect(() => validateResultRecord(legacy({ nmiPerEpoch: 0.5 }), file)).toThrow(`${file}: diagnostics.nmiPerEpoch must be an array of numbers, got 0.5`);
  });
});

describe('readResults', () => {
  it('reads every record sorted by job id and skips hidden files (atomic writes in progress)', async () => {
    const other = makeRecord({ method: 'full', task: 'fmnist-unseen', value: 0.6 });
    const out = store({ [`${good.job.id}.json`]: good, [`${other.job.id}.json`]: other, [`.${good.job.id}.json.1a2b.tmp`]: '{', 'notes.txt': 'not a record' });
    expect((await readResults(out)).map((record) => record.job.method)).toEqual(['full', 'linear']);
  });

  it('rejects a file that does not parse, naming it', async () => {
    const out = store({ 'tiny__a__linear__seed0.json': '{"schema": ' });
    await expect(readResults(out)).rejects.toThrow(/tiny__a__linear__seed0\.json: JSON does not parse/);
  });

  it('rejects a missing or empty store', async () => {
    const empty = store({});
    await expect(readResults(empty)).rejects.toThrow(`${join(empty, 'results')}: results directory holds no result files`);
    await expect(readResults(join(empty, 'nowhere'))).rejects.toThrow(/results directory does not exist: run `visual-peft-bench run --out/);
  });
});

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

const good = makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.5 });
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
    ['schema', 'visual-peft-bench/result@0', 'schema must be "visual-peft-bench/result@1", got "visual-peft-bench/result@0"'],
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
    ['diagnostics.salientChannels', [[1, 2], [3, 'x']], 'diagnostics.salientChannels[1][1] must be a finite number, got "x"'],
    ['diagnostics.nmiPerEpoch', 0.5, 'diagnostics.nmiPerEpoch must be an array of numbers, got 0.5'],
    ['environment.device', '', 'environment.device must be a non-empty string, got ""'],
  ])('names the file and the field when %s is wrong', (path, value, message) => {
    expect(() => validateResultRecord(broken(path, value), file)).toThrow(ResultFileError);
    expect(() => validateResultRecord(broken(path, value), file)).toThrow(`${file}: ${message}`);
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

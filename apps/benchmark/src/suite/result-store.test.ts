import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRecord } from '../report/__fixtures__/make-record';
import { readResult, readResults, resultFile, resultsDir, writeResult } from './result-store';

describe('result store', () => {
  it('reads back what it wrote, and checks every stored record field by field', async () => {
    const out = mkdtempSync(join(tmpdir(), 'visual-peft-store-'));
    mkdirSync(resultsDir(out), { recursive: true });
    const record = makeRecord({ method: 'vqt', task: 'fmnist-unseen', value: 0.7 });
    await writeResult(out, record);
    expect(await readResult(out, record.job.id, record.suiteHash)).toEqual(record);
    expect([...(await readResults(out, record.suiteHash)).keys()]).toEqual([record.job.id]);
    expect(await readResult(out, 'tiny__fmnist-unseen__linear__seed0', record.suiteHash)).toBeNull();

    // Another suite's record, and a record broken in one field: each named with its file.
    await expect(readResult(out, record.job.id, 'other')).rejects.toThrow(`${resultFile(out, record.job.id)}: belongs to suite abc123, not other`);
    writeFileSync(resultFile(out, record.job.id), JSON.stringify({ ...record, metric: { name: 'top1', value: 'high' } }));
    await expect(readResult(out, record.job.id, record.suiteHash)).rejects.toThrow(/metric\.value must be a finite number, got "high"/);
    await expect(readResults(out, record.suiteHash)).rejects.toThrow(resultFile(out, record.job.id));

    // The kept weights' folder is the store's own for the job, or absent (older records, --no-weights).
    const kept = { ...record, weights: `weights/${record.job.id}` };
    await writeResult(out, kept);
    expect(await readResult(out, record.job.id, record.suiteHash)).toEqual(kept);
    writeFileSync(resultFile(out, record.job.id), JSON.stringify({ ...record, weights: '../elsewhere' }));
    await expect(readResult(out, record.job.id, record.suiteHash)).rejects.toThrow(`weights must be "weights/${record.job.id}" when present, got "../elsewhere"`);
  });
});

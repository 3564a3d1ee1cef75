/**
 * `demo` through the built binary, started from an empty folder: the suite, data and backbones must
 * come from the app's own files (import.meta.url), never from the working directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ResultRecord } from '../suite/result-record';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const execute = promisify(execFile);
const JOB = 'mae__fmnist-unseen__linear__seed42';

async function bench(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await execute('node', [cli, ...args], { cwd, maxBuffer: 16 * 1024 * 1024 })) };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe('visual-peft-bench demo', () => {
  it('runs one demo job from any folder on the shipped data and backbones, reports it, and skips it the second time', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'visual-peft-bench-demo-'));
    // The default backend (wasm here): the cpu backend takes minutes for the demo's 124 steps and 1,000 test images.
    const first = await bench(cwd, 'demo', '--only', JOB);
    expect(first.code, first.stderr).toBe(0);
    // The default output folder is the working directory's, the only thing written there.
    const out = join(cwd, 'visual-peft-demo');
    expect(readdirSync(cwd)).toEqual(['visual-peft-demo']);
    expect(JSON.parse(first.stdout.split('\n')[0]!)).toMatchObject({ suite: 'demo', out, jobs: 1, ran: 1, skipped: 0 });
    const record = JSON.parse(readFileSync(join(out, 'results', `${JOB}.json`), 'utf8')) as ResultRecord;
    expect(record.job).toMatchObject({ id: JOB, backbone: 'mae', task: 'fmnist-unseen', method: 'linear', seed: 42 });
    // The pretrained MAE features: the unseen classes well above chance (0.2).
    expect(record.metric.value).toBeGreaterThan(0.4);
    // The report followed the run: its tables on stdout, its files in <out>/report.
    expect(first.stdout).toMatch(/### Demo, mae: top-1 accuracy/);
    expect(existsSync(join(out, 'report', 'report.md'))).toBe(true);

    const again = await bench(cwd, 'demo', '--only', JOB, '--out', 'visual-peft-demo');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.split('\n')[0]!)).toMatchObject({ jobs: 1, ran: 0, skipped: 1 });
  });

  it('is listed by help', async () => {
    const { code, stdout } = await bench(tmpdir(), 'help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}demo \[--out <dir> \(default visual-peft-demo\)\] \[--only <job id,...>\]/m);
  });

  it('refuses a job the demo does not have, or a flag it does not take, with one line and exit 2, writing nothing', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'visual-peft-bench-demo-bad-'));
    const unknown = await bench(cwd, 'demo', '--only', `${JOB},mae__fmnist-unseen__lasso__seed42`);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^visual-peft-bench: --only: "mae__fmnist-unseen__lasso__seed42" is not a job of this suite; its jobs: mae__fmnist-rotation__adapter__seed42, mae__fmnist-rotation__adaptformer__seed42, .*supervised__fmnist-unseen__vqt__seed42$/),
    ]);
    const repeated = await bench(cwd, 'demo', '--only', `${JOB},${JOB}`);
    expect(repeated.code).toBe(2);
    expect(repeated.stderr.trim()).toBe(`visual-peft-bench: --only must not repeat a job, got "${JOB},${JOB}"`);
    const flag = await bench(cwd, 'demo', '--suite', 'fgvc');
    expect(flag.code).toBe(2);
    expect(flag.stderr.trim()).toMatch(/^visual-peft-bench: demo: Unknown option '--suite'/);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

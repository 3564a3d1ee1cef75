/**
 * Fault injection: the built binary's `train` and `run`, killed with SIGKILL at seeded random points
 * (during training, checkpoint writes, renames, result writes) and restarted each time, must end
 * with exactly the results of an uninterrupted run, and leave no lock and no temporary file behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { storedResults, suiteRunArgs, tinyVit } from './commands/__fixtures__/suite-run';
import { runCli } from './run-cli';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-faults-'));
const data = join(directory, 'vtab-1k');
const KILLS = 6;

/** mulberry32: a small seeded generator, so that a failure replays with the same kill times. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Starts the command and, `delayMs` after it reports its backend (data and checkpoint loaded, training about to
 * start), kills it with SIGKILL; with `delayMs` null it lets it run. Returns the exit (null and SIGKILL when the
 * kill landed, 0 when the run had already finished) and the milliseconds from the backend line to the exit.
 */
function killAfter(argv: readonly string[], delayMs: number | null): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; elapsedMs: number }> {
  const child = spawn(process.execPath, [cli, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let started: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (started === undefined && stderr.includes('backend: ')) {
      started = performance.now();
      if (delayMs !== null) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    }
  });
  return new Promise((done) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stderr, elapsedMs: started === undefined ? 0 : performance.now() - started });
    }),
  );
}

/** Every file under a folder whose name is a lock or a temporary file, relative to it. */
function leftovers(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === '.lock' || entry.name.endsWith('.tmp')) found.push(relative(dir, path));
    }
  };
  walk(dir);
  return found;
}

/**
 * Runs the command once uninterrupted into `reference`, then KILLS times into its own folder, each killed at a
 * seeded offset within the first 1/KILLS of the uninterrupted run's time (measured here, so the kills land on a
 * fast machine as on a slow one, and each resumed attempt still has work left), and returns how many kills
 * landed. Each killed process leaves its lock behind (it is taken before the backend is reported): the next
 * start must take it over, and say so.
 */
async function killRepeatedly(argv: (out: string) => readonly string[], reference: string, out: string, seed: number): Promise<{ landed: number; lastKilled: boolean }> {
  const whole = await killAfter(argv(reference), null);
  expect(whole.code, whole.stderr).toBe(0);
  const random = seeded(seed);
  let landed = 0;
  let lastKilled = false;
  for (let kill = 0; kill < KILLS; kill++) {
    const { code, signal, stderr } = await killAfter(argv(out), Math.floor((random() * whole.elapsedMs) / KILLS));
    expect(stderr.includes('took over the lock of'), stderr).toBe(lastKilled);
    lastKilled = signal === 'SIGKILL';
    if (lastKilled) landed += 1;
    else expect(code, stderr).toBe(0);
  }
  return { landed, lastKilled };
}

describe('fault injection: SIGKILL at random points, then resume', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', data, { count: 8 });
  });

  it('train: the resumed result and tuned weights equal an uninterrupted run’s', async () => {
    const args = (out: string) => [
      'train', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'), '--dataset', 'vtab-eurosat', '--root', data,
      '--method', 'vpt-shallow', '--set', 'numPrompts=2', '--out', out, '--epochs', '6', '--batch-size', '4', '--lr', '0.05', '--backend', 'cpu',
    ];
    const reference = join(directory, 'train-reference');
    const out = join(directory, 'train-killed');
    const { landed, lastKilled } = await killRepeatedly(args, reference, out, 2101);
    expect(landed).toBeGreaterThanOrEqual(KILLS / 2);
    const last = await runCli(...args(out));
    expect(last.code, last.stderr.join('\n')).toBe(0);
    expect(last.stderr.some((line) => line.startsWith('train: took over the lock of'))).toBe(lastKilled);
    // What differs between sessions: wall time, the machine, where it resumed from.
    const comparable = (dir: string) => {
      const { seconds: _seconds, environment: _environment, resumedFrom: _resumedFrom, ...result } = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as Record<string, unknown>;
      return result;
    };
    expect(comparable(out)).toEqual(comparable(reference));
    expect(readFileSync(join(out, 'tuned.safetensors')).equals(readFileSync(join(reference, 'tuned.safetensors')))).toBe(true);
    expect(leftovers(out)).toEqual([]);
  }, 120_000);

  it('run: the resumed store’s records equal an uninterrupted run’s', async () => {
    const suite = join(directory, 'suite.yaml');
    writeFileSync(
      suite,
      ['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [linear, bias]', 'seeds: [42]', 'epochs: 3', 'batchSize: 4', 'grid: { learningRates: [0.5, 0.05], weightDecays: [0] }'].join('\n'),
    );
    const reference = join(directory, 'run-reference');
    const out = join(directory, 'run-killed');
    const { landed, lastKilled } = await killRepeatedly((dir) => suiteRunArgs(data, suite, dir), reference, out, 2102);
    expect(landed).toBeGreaterThanOrEqual(KILLS / 2);
    const last = await runCli(...suiteRunArgs(data, suite, out));
    expect(last.code, last.stderr.join('\n')).toBe(0);
    expect(last.stderr.some((line) => line.startsWith('run: took over the lock of'))).toBe(lastKilled);
    const comparable = (dir: string) =>
      new Map(
        [...storedResults(dir)].map(([id, record]) => {
          const { timing: _timing, environment: _environment, finishedAt: _finishedAt, ...rest } = record;
          return [id, rest];
        }),
      );
    const expected = comparable(reference);
    expect(expected.size).toBe(2);
    expect(comparable(out)).toEqual(expected);
    expect(leftovers(out)).toEqual([]);
  }, 120_000);
});

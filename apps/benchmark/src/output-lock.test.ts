/**
 * The output folder's lock, the sweep of killed writes' temporary files, a failed command's empty
 * folders, and Ctrl-C: in-process where the holder is another live process (this one's parent), and
 * through the built binary where two processes must meet.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { storedResults, suiteRunArgs, tinyVit } from './commands/__fixtures__/suite-run';
import { LOCK_FILE, lockOutput, releaseOutputLocks } from './output-lock';
import { runCli } from './run-cli';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-lock-'));
const root = join(directory, 'vtab-1k');
const quiet = { stdout: () => undefined, stderr: () => undefined };

const trainArgs = (out: string, ...extra: string[]) => [
  'train', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'), '--dataset', 'vtab-eurosat', '--root', root,
  '--method', 'linear', '--out', out, '--epochs', '2', '--batch-size', '4', '--backend', 'cpu', ...extra,
];

/** A lock file as another process would have written it. */
function writeLock(dir: string, holder: { pid: number; host?: string; command?: string }): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  writeFileSync(path, JSON.stringify({ pid: holder.pid, host: holder.host ?? hostname(), since: '2026-01-02T03:04:05.000Z', command: holder.command ?? 'train' }));
  return path;
}

/** The pid of a process that has ended. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

describe('output folder locks', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', root, { count: 8 });
  });

  it('takes the lock with pid, host, time and command, holds it again in the same process, and releases it', async () => {
    const out = join(directory, 'held', 'nested');
    await lockOutput(out, 'run', quiet);
    const holder = JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8'));
    expect(holder).toEqual({ pid: process.pid, host: hostname(), since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), command: 'run' });
    // `demo` runs `run` then `report` on one folder: the second take is the same lock.
    await lockOutput(out, 'report', quiet);
    expect(JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8'))).toEqual(holder);
    await releaseOutputLocks({ failed: false });
    expect(readdirSync(out)).toEqual([]);
    // A failure removes the folders the command created and left empty, parents included.
    await lockOutput(out, 'run', quiet);
    await releaseOutputLocks({ failed: true });
    expect(existsSync(join(directory, 'held', 'nested'))).toBe(true);
    const fresh = join(directory, 'fresh', 'a', 'b');
    await lockOutput(fresh, 'train', quiet);
    mkdirSync(join(fresh, 'checkpoints'));
    await releaseOutputLocks({ failed: true });
    expect(existsSync(join(directory, 'fresh'))).toBe(false);
  });

  it('refuses every writing command on a folder a live process holds, naming it, and leaves the folder as it was', async () => {
    const out = join(directory, 'busy');
    const path = writeLock(out, { pid: process.ppid, command: 'run' });
    const before = readFileSync(path, 'utf8');
    const commands = [
      trainArgs(out),
      ['run', '--suite', 'demo', '--out', out, '--backend', 'cpu'],
      ['demo', '--out', out, '--backend', 'cpu'],
      ['merge', '--out', out, join(directory, 'shard')],
      ['report', '--out', out],
      ['pretrain', '--kind', 'mae', '--out', out, '--backend', 'cpu'],
      ['deletion', '--backbone', tinyVit('config.json'), '--dataset', 'vtab-eurosat', '--root', root, '--k', '2', '--out', out, '--backend', 'cpu'],
    ];
    for (const argv of commands) {
      const { code, stderr } = await runCli(...argv);
      expect(code, argv[0]).toBe(1);
      expect(stderr, argv[0]).toEqual([`visual-peft-bench: ${out} is in use by run (pid ${process.ppid} on ${hostname()}, since 2026-01-02T03:04:05.000Z); wait for it to end or stop it`]);
    }
    expect(readdirSync(out)).toEqual([LOCK_FILE]);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it("refuses another host's lock with how to remove it, and an unreadable lock likewise", async () => {
    const out = join(directory, 'elsewhere');
    const path = writeLock(out, { pid: process.pid, host: 'gpu-node-7' });
    const other = await runCli(...trainArgs(out));
    expect(other.code).toBe(1);
    expect(other.stderr).toEqual([
      `visual-peft-bench: ${out} is locked by train (pid ${process.pid} on gpu-node-7, since 2026-01-02T03:04:05.000Z); that host cannot be checked from here: if no command on gpu-node-7 uses the folder, remove ${path}`,
    ]);
    writeFileSync(path, '{"pid": ');
    const unreadable = await runCli(...trainArgs(out));
    expect(unreadable.stderr).toEqual([`visual-peft-bench: ${out} is locked (${path}), but the lock cannot be read; if no command uses the folder, remove ${path}`]);
    expect(readFileSync(path, 'utf8')).toBe('{"pid": ');
  });

  it("takes over a lock whose process is gone, says so, and sweeps the killed writes' temporary files (only those)", async () => {
    const out = join(directory, 'stale');
    const pid = deadPid();
    writeLock(out, { pid });
    mkdirSync(join(out, 'checkpoints'), { recursive: true });
    const debris = [join(out, '.result.json.0123456789ab.tmp'), join(out, 'checkpoints', '.checkpoint-000000002.safetensors.abcdef012345.tmp')];
    debris.forEach((path) => writeFileSync(path, 'partial'));
    writeFileSync(join(out, '.notes.tmp'), 'mine');
    const { code, stderr } = await runCli(...trainArgs(out));
    expect(code, stderr.join('\n')).toBe(0);
    expect(stderr).toContain(`train: took over the lock of ${out} from train (pid ${pid} on ${hostname()}, since 2026-01-02T03:04:05.000Z), which no longer runs`);
    expect(stderr).toContain(`train: removed 2 temporary files (0.0 MB) that interrupted writes left in ${out}`);
    for (const path of debris) expect(existsSync(path), path).toBe(false);
    expect(readFileSync(join(out, '.notes.tmp'), 'utf8')).toBe('mine');
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    expect(existsSync(join(out, 'result.json'))).toBe(true);
  });

  it('takes over a stale lock whose takeover a killed process left unfinished; waits for a live one, then names both files', async () => {
    const out = join(directory, 'unfinished');
    const path = writeLock(out, { pid: deadPid() });
    const stale = readFileSync(path, 'utf8');
    const claim = `${path}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
    const notes: string[] = [];
    // A live claimant that never finishes (this process's parent): refused after a wait, naming the lock and the claim.
    writeFileSync(claim, JSON.stringify({ pid: process.ppid, host: hostname(), since: '2026-01-02T03:04:06.000Z', command: 'run' }));
    await expect(lockOutput(out, 'train', quiet)).rejects.toThrow(
      `${out}: a takeover of its stale lock (train (pid ${JSON.parse(stale).pid} on ${hostname()}, since 2026-01-02T03:04:05.000Z)) did not finish; if no command uses the folder, remove ${path} and ${claim}`,
    );
    // A claimant killed before its rename: the claim is a stale lock of its own, taken over on the way.
    writeFileSync(claim, JSON.stringify({ pid: deadPid(), host: hostname(), since: '2026-01-02T03:04:06.000Z', command: 'run' }));
    // A process killed between writing its lock beside the lock and linking it into place left the part: swept too.
    writeFileSync(`${path}.part-0123456789ab`, JSON.stringify({ pid: deadPid(), host: hostname(), since: '2026-01-02T03:04:07.000Z', command: 'run' }));
    await lockOutput(out, 'train', { stdout: () => undefined, stderr: (line) => notes.push(line) });
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    expect(notes).toEqual([expect.stringMatching(/^train: took over the lock of .* from train \(pid \d+ on .*, since 2026-01-02T03:04:05.000Z\), which no longer runs$/)]);
    expect(readdirSync(out)).toEqual([LOCK_FILE]);
    await releaseOutputLocks({ failed: false });
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses an --out that is a file with the path and exit 1', async () => {
    const file = join(directory, 'a-file');
    writeFileSync(file, 'not a folder');
    const { code, stderr } = await runCli(...trainArgs(file));
    expect(code).toBe(1);
    expect(stderr).toEqual([expect.stringMatching(new RegExp(`^visual-peft-bench: ${file}: cannot be written: .* \\((EEXIST|ENOTDIR)\\); choose a path whose parents are folders, or move the file away$`))]);
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  });

  it('pretrain locks a --checkpoints folder outside --out too', async () => {
    const out = join(directory, 'pretrain-out');
    const checkpoints = join(directory, 'pretrain-checkpoints');
    writeLock(checkpoints, { pid: process.ppid, command: 'pretrain' });
    const { code, stderr } = await runCli('pretrain', '--kind', 'mae', '--out', out, '--checkpoints', checkpoints, '--backend', 'cpu');
    expect(code).toBe(1);
    expect(stderr.at(-1)).toMatch(new RegExp(`^visual-peft-bench: ${checkpoints} is in use by pretrain \\(pid ${process.ppid} `));
    // The failed command's own new --out is gone again.
    expect(existsSync(out)).toBe(false);
  });

  it('a failed train leaves no --out it created, and leaves an --out that existed', async () => {
    const out = join(directory, 'failed', 'run');
    const missing = await runCli(...trainArgs(out, '--root', join(directory, 'no-such-data')));
    expect(missing.code, missing.stderr.join('\n')).not.toBe(0);
    expect(existsSync(join(directory, 'failed'))).toBe(false);
    mkdirSync(out, { recursive: true });
    expect((await runCli(...trainArgs(out, '--root', join(directory, 'no-such-data')))).code).not.toBe(0);
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses a second process while the first holds the folder (built binary)', async () => {
    const out = join(directory, 'two-processes');
    await lockOutput(out, 'train', quiet);
    try {
      const since = JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8')).since as string;
      const second = spawnSync(process.execPath, [cli, ...trainArgs(out)], { encoding: 'utf8' });
      expect(second.status).toBe(1);
      expect(second.stderr.trim().split('\n').at(-1)).toBe(`visual-peft-bench: ${out} is in use by train (pid ${process.pid} on ${hostname()}, since ${since}); wait for it to end or stop it`);
      expect(existsSync(join(out, 'result.json'))).toBe(false);
    } finally {
      await releaseOutputLocks({ failed: false });
    }
  });

  it('Ctrl-C stops train after a step with exit 130, keeps its checkpoint and lock-free folder, and a rerun resumes', async () => {
    const out = join(directory, 'interrupted');
    const child = spawn(process.execPath, [cli, ...trainArgs(out, '--epochs', '12')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // After the first epoch's line its checkpoint is on disk; the next step ends the run.
      if (!sent && /epoch 1\/12:/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/train: stopping after the current training step with a checkpoint \(Ctrl-C again to quit at once, from the last checkpoint\)/);
    const stopped = /visual-peft-bench: train: stopped after step (\d+) \(epoch \d+\/12\), checkpointed in .*checkpoints: run the same command again to resume\n$/.exec(stderr);
    expect(stopped, stderr).not.toBeNull();
    expect(existsSync(join(out, 'checkpoints', 'checkpoint.json'))).toBe(true);
    expect(existsSync(join(out, 'result.json'))).toBe(false);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    const again = await runCli(...trainArgs(out, '--epochs', '12'));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    // It goes on after the step it stopped at, within its epoch or not, and ends with an unbroken run's weights.
    expect(JSON.parse(again.stdout[0]!).resumedFrom.step).toBe(Number(stopped![1]));
    const reference = join(directory, 'uninterrupted');
    expect((await runCli(...trainArgs(reference, '--epochs', '12'))).code).toBe(0);
    expect(readFileSync(join(out, 'tuned.safetensors')).equals(readFileSync(join(reference, 'tuned.safetensors')))).toBe(true);
  }, 120_000);

  it('Ctrl-C stops run after a step with exit 130; the rerun finishes the job', async () => {
    const suite = join(directory, 'interrupt.yaml');
    writeFileSync(suite, ['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [linear]', 'seeds: [42]', 'epochs: 6', 'batchSize: 4', 'grid: { learningRates: [0.05], weightDecays: [0] }'].join('\n'));
    const out = join(directory, 'run-interrupted');
    const child = spawn(process.execPath, [cli, ...suiteRunArgs(root, suite, out)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/1 to run/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/run: stopping after the current training step/);
    expect(stderr).toMatch(/visual-peft-bench: interrupted during job tiny-vit__vtab-eurosat__linear__seed42; run the same command again to resume it\n$/);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    const again = await runCli(...suiteRunArgs(root, suite, out));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect([...storedResults(out).keys()]).toEqual(['tiny-vit__vtab-eurosat__linear__seed42']);
  }, 60_000);

  // Whether the second signal lands before the first has stopped the run is a race: either way the exit is 130, the lock goes and what was written stays whole.
  it('a second Ctrl-C quits at once with exit 130 and removes the lock', async () => {
    const out = join(directory, 'quit');
    const child = spawn(process.execPath, [cli, ...trainArgs(out, '--epochs', '30')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/epoch 1\/30:/.test(stderr) && !child.killed) {
        child.kill('SIGINT');
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code, stderr).toBe(130);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'checkpoints', 'checkpoint.json'), 'utf8'))).toMatchObject({ epoch: expect.any(Number) });
    expect(readdirSync(join(out, 'checkpoints')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 60_000);
});

describe('a stale lock several processes take over at the same moment', () => {
  // The contender, bundled from TypeScript once (the packages it imports resolve from this package's node_modules).
  const bundleDir = fileURLToPath(new URL('../node_modules/.cache/visual-peft-lock-racer', import.meta.url));
  const CONTENDERS = 6;
  const ROUNDS = 12;

  beforeAll(async () => {
    const { build } = await import('tsup');
    await build({
      entry: { 'lock-racer': fileURLToPath(new URL('./__fixtures__/lock-racer.ts', import.meta.url)) },
      outDir: bundleDir, format: ['esm'], platform: 'node', target: 'node20', config: false, silent: true, external: [/^@visual-peft\//, /^@tensorflow\//],
    });
  }, 60_000);

  it('ends every round with exactly one holder; the others are refused naming it', async () => {
    const contenders = Array.from({ length: CONTENDERS }, () => {
      const child = spawn(process.execPath, [join(bundleDir, 'lock-racer.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines: string[] = [];
      const waiting: ((line: string) => void)[] = [];
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          const next = waiting.shift();
          if (next === undefined) lines.push(line);
          else next(line);
        }
      });
      const nextLine = () => new Promise<string>((done) => (lines.length > 0 ? done(lines.shift()!) : waiting.push(done)));
      return { child, nextLine };
    });
    try {
      expect(await Promise.all(contenders.map(({ nextLine }) => nextLine()))).toEqual(contenders.map(() => 'ready'));
      const stale = deadPid();
      for (let round = 0; round < ROUNDS; round++) {
        const out = join(directory, 'race', String(round));
        writeLock(out, { pid: stale, command: 'train' });
        // All at once: the writes to every contender's stdin go out before any of them answers.
        contenders.forEach(({ child }) => child.stdin.write(`go ${out}\n`));
        const outcomes = (await Promise.all(contenders.map(({ nextLine }) => nextLine()))).map((line) => JSON.parse(line) as { pid: number; won: boolean; refused?: string; notes: string[] });
        const winners = outcomes.filter((outcome) => outcome.won);
        expect(winners.map((winner) => winner.pid), `round ${round}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
        const holder = JSON.parse(readFileSync(join(out, LOCK_FILE), 'utf8'));
        expect(holder.pid).toBe(winners[0]!.pid);
        // The winner took the stale lock over and says so; every other contender met the winner's lock.
        expect(winners[0]!.notes).toEqual([`racer: took over the lock of ${out} from train (pid ${stale} on ${hostname()}, since 2026-01-02T03:04:05.000Z), which no longer runs`]);
        for (const loser of outcomes.filter((outcome) => !outcome.won)) {
          expect(loser.refused).toBe(`${out} is in use by racer (pid ${holder.pid} on ${hostname()}, since ${holder.since}); wait for it to end or stop it`);
          expect(loser.notes).toEqual([]);
        }
        contenders.forEach(({ child }) => child.stdin.write('release\n'));
        expect(await Promise.all(contenders.map(({ nextLine }) => nextLine()))).toEqual(contenders.map(() => 'released'));
        // Nothing of the takeover is left: no lock, no claim, no temporary file.
        expect(readdirSync(out)).toEqual([]);
      }
    } finally {
      for (const { child } of contenders) child.stdin.end();
      await Promise.all(contenders.map(({ child }) => new Promise((done) => (child.exitCode !== null ? done(null) : child.on('close', done)))));
    }
  }, 60_000);
});

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../output-lock';
import { runCli } from '../run-cli';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Runs the built binary and sends it SIGINT (twice with `twice`) when its stderr first matches `when`; its exit code and stderr. */
async function interrupted(argv: readonly string[], when: RegExp, twice = false): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (when.test(stderr) && !child.killed) {
      child.kill('SIGINT');
      if (twice) child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, stderr };
}

/** What a stopped command must not leave in its folder: its lock, or a temporary file of a write. */
const leftovers = (out: string) => readdirSync(out, { recursive: true }).map(String).filter((name) => name.endsWith('.tmp') || name.endsWith(LOCK_FILE));

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-deletion-'));
const root = join(directory, 'vtab-1k');

function deletionArgs(out: string, ...extra: string[]): string[] {
  return [
    'deletion', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'),
    '--dataset', 'vtab-eurosat', '--root', root, '--out', out, '--batch-size', '4', '--backend', 'cpu', ...extra,
  ];
}

interface DeletionJson {
  baseline: number;
  k: number;
  position: string;
  score: string;
  probe: { trained: boolean; epochs: number | null; tuned: string | null };
  rows: { block: number; salientDeleted: number; randomDeleted: number; baseline: number }[];
}

const readResult = (out: string) => JSON.parse(readFileSync(join(out, 'deletion.json'), 'utf8')) as DeletionJson;

describe('visual-peft-bench deletion', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', root, { count: 8 });
  });

  it('trains a linear probe, deletes each block’s salient and random channels on the evaluation split, prints a table and writes deletion.json', async () => {
    const out = join(directory, 'probe');
    const { code, stdout, stderr } = await runCli(...deletionArgs(out, '--k', '8', '--epochs', '2', '--lr', '0.05'));
    expect(code, stderr.join('\n')).toBe(0);
    expect(stderr.filter((line) => line.startsWith('probe epoch '))).toEqual([expect.stringMatching(/^probe epoch 1\/2: train loss \d+\.\d{4}$/), expect.stringMatching(/^probe epoch 2\/2: /)]);
    const result = readResult(out);
    expect(result).toMatchObject({ k: 8, position: 'attn', score: 'class-aware', probe: { trained: true, epochs: 2, tuned: null } });
    // The tiny ViT has two blocks: one row each, every accuracy a fraction of the evaluation split.
    expect(result.rows.map((row) => row.block)).toEqual([0, 1]);
    for (const value of [result.baseline, ...result.rows.flatMap((row) => [row.salientDeleted, row.randomDeleted])]) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
    expect(result.rows.every((row) => row.baseline === result.baseline)).toBe(true);
    const pct = (value: number) => (100 * value).toFixed(2);
    expect(stdout).toEqual([
      '| block | top-1, 8 salient channels deleted (%) | top-1, 8 random channels deleted (%) | baseline top-1 (%) |',
      '|---:|---:|---:|---:|',
      ...result.rows.map((row) => `| ${row.block} | ${pct(row.salientDeleted)} | ${pct(row.randomDeleted)} | ${pct(result.baseline)} |`),
    ]);
    for (const file of ['tuned.safetensors', 'checkpoints/checkpoint.json']) expect(existsSync(join(out, file)), file).toBe(true);

    // Run again: the probe resumes from its finished checkpoints (no epoch trains), the numbers stay, no tensor is left behind.
    const before = tf.memory().numTensors;
    const again = await runCli(...deletionArgs(out, '--k', '8', '--epochs', '2', '--lr', '0.05'));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(again.stderr.filter((line) => line.startsWith('probe epoch '))).toEqual([]);
    expect(readResult(out).rows).toEqual(result.rows);
  });

  it('loads a tuned probe with --tuned and measures the same model the same way; only the blocks asked; no tensor left behind', async () => {
    const trained = readResult(join(directory, 'probe'));
    const out = join(directory, 'tuned');
    const before = tf.memory().numTensors;
    const { code, stderr } = await runCli(...deletionArgs(out, '--k', '8', '--tuned', join(directory, 'probe', 'tuned.safetensors')));
    expect(code, stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const loaded = readResult(out);
    expect(loaded.probe).toMatchObject({ trained: false, epochs: null, tuned: join(directory, 'probe', 'tuned.safetensors') });
    // Same head, same importance pass, same seed for the random channels: the same numbers.
    expect(loaded.baseline).toBe(trained.baseline);
    expect(loaded.rows).toEqual(trained.rows);
    expect(existsSync(join(out, 'checkpoints'))).toBe(false);

    // Deleting every channel of block 1 leaves nothing to choose: salient and random delete the same set.
    const all = join(directory, 'all');
    const every = await runCli(...deletionArgs(all, '--k', '32', '--blocks', '1', '--position', 'mlp', '--score', 'dataset', '--tuned', join(directory, 'probe', 'tuned.safetensors')));
    expect(every.code, every.stderr.join('\n')).toBe(0);
    const result = readResult(all);
    expect(result).toMatchObject({ position: 'mlp', score: 'dataset', baseline: trained.baseline });
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0]).toMatchObject({ block: 1, randomDeleted: result.rows[0]!.salientDeleted });
  });

  it('Ctrl-C stops the probe after a step with exit 130 and its checkpoint; the rerun ends as an unbroken run', async () => {
    const argv = (out: string) => deletionArgs(out, '--k', '8', '--epochs', '6', '--lr', '0.05');
    const out = join(directory, 'interrupted-probe');
    const { code, stderr } = await interrupted(argv(out), /probe epoch 1\/6:/);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/deletion: stopping after the current training step or evaluation \(Ctrl-C again to quit at once, from the last checkpoint\)/);
    const stopped = new RegExp(`visual-peft-bench: deletion: stopped after step \\d+ \\(probe epoch ([2-6])/6\\), checkpointed in ${join(out, 'checkpoints')}: run the same command again to resume\n$`).exec(stderr);
    expect(stopped, stderr).not.toBeNull();
    expect(existsSync(join(out, 'checkpoints', 'checkpoint.json'))).toBe(true);
    for (const file of ['deletion.json', 'tuned.safetensors']) expect(existsSync(join(out, file)), file).toBe(false);
    expect(leftovers(out)).toEqual([]);

    const again = await runCli(...argv(out));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    // It goes on in the epoch it stopped in.
    expect(again.stderr.find((line) => line.startsWith('probe epoch '))).toMatch(new RegExp(`^probe epoch ${stopped![1]}/6:`));
    const reference = join(directory, 'unbroken-probe');
    expect((await runCli(...argv(reference))).code).toBe(0);
    expect(readFileSync(join(out, 'tuned.safetensors')).equals(readFileSync(join(reference, 'tuned.safetensors')))).toBe(true);
    expect(readResult(out)).toMatchObject({ baseline: readResult(reference).baseline, rows: readResult(reference).rows });
  }, 60_000);

  it('Ctrl-C stops the deletion test before its next evaluation with exit 130 and nothing of it written; the rerun measures it whole', async () => {
    const tuned = join(directory, 'unbroken-probe', 'tuned.safetensors');
    const argv = (out: string) => deletionArgs(out, '--k', '8', '--tuned', tuned);
    const out = join(directory, 'interrupted-test');
    const { code, stderr } = await interrupted(argv(out), /deletion: scoring the channels/);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/visual-peft-bench: deletion: stopped during the channel deletion test, which starts over: run the same command again to finish\n$/);
    // Nothing was written: the folder the command created goes with its lock.
    expect(existsSync(out)).toBe(false);
    const again = await runCli(...argv(out));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect(readResult(out)).toMatchObject({ baseline: readResult(join(directory, 'unbroken-probe')).baseline, rows: readResult(join(directory, 'unbroken-probe')).rows });
  }, 60_000);

  // Whether the second signal lands before the first has stopped the probe is a race: either way the exit is 130, the lock goes and the checkpoint stays whole.
  it('a second Ctrl-C quits at once with exit 130, no lock and no temporary file', async () => {
    const out = join(directory, 'quit');
    const { code, stderr } = await interrupted(deletionArgs(out, '--k', '8', '--epochs', '30'), /probe epoch 1\/30:/, true);
    expect(code, stderr).toBe(130);
    expect(leftovers(out)).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, 'checkpoints', 'checkpoint.json'), 'utf8'))).toMatchObject({ epoch: expect.any(Number) });
  }, 60_000);

  it('refuses bad command lines with one line naming the flag, the value and the rule (exit 2)', async () => {
    const bad = async (pattern: RegExp, ...extra: string[]) => {
      const out = join(directory, 'bad');
      const { code, stderr } = await runCli(...deletionArgs(out, ...extra));
      expect(code).toBe(2);
      expect(stderr).toEqual([expect.stringMatching(pattern)]);
      expect(existsSync(out)).toBe(false);
    };
    await bad(/deletion: --k is required/);
    await bad(/--k must be an integer >= 1, got "0"/, '--k', '0');
    await bad(/--k must be at most the backbone's 32 channels, got "33"/, '--k', '33');
    await bad(/--position must be one of attn, mlp, got "both"/, '--k', '4', '--position', 'both');
    await bad(/--score must be one of class-aware, dataset, got "cais"/, '--k', '4', '--score', 'cais');
    await bad(/--blocks must be distinct block indices in \[0, 1\] separated by commas, got "0,2"/, '--k', '4', '--blocks', '0,2');
    await bad(/--blocks must be distinct block indices in \[0, 1\] separated by commas, got "1,1"/, '--k', '4', '--blocks', '1,1');
    await bad(/--epochs trains the linear probe, and --tuned x\.safetensors replaces it: give one of them/, '--k', '4', '--tuned', 'x.safetensors', '--epochs', '3');
    await bad(/--dataset must be one of cub, .*, got "imagenet"/, '--k', '4', '--dataset', 'imagenet');
    await bad(/deletion: Unknown option '--method'/, '--k', '4', '--method', 'sct');
  });
});

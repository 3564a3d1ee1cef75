import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { serializeSafetensors } from '@visual-peft/vit-core';
import { parseSafetensors } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from './run-cli';
import { resolveSuite } from './suite/suite-config';

// The app's own `mkdir` is wrapped so a test can make the file system refuse one folder the way a
// read-only mount or a full disk does (tests run as root here, where chmod stops no write).
const refusals = new Map<string, string>();
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const mkdir = async (path: Parameters<typeof actual.mkdir>[0], options?: Parameters<typeof actual.mkdir>[1]) => {
    const code = refusals.get(String(path));
    if (code !== undefined) throw Object.assign(new Error(`${code}: raw message, mkdir '${String(path)}'`), { code, syscall: 'mkdir', path: String(path) });
    return actual.mkdir(path, options);
  };
  return { ...actual, mkdir };
});

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-faults-'));
const root = join(directory, 'eurosat');

function trainArgs(out: string, ...extra: string[]): string[] {
  return [
    'train', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'),
    '--dataset', 'vtab-eurosat', '--root', root, '--method', 'linear', '--out', out,
    '--epochs', '1', '--batch-size', '4', '--backend', 'cpu', ...extra,
  ];
}

/** Exit 1 and exactly one line naming the problem (backend notes aside), never a stack trace. */
async function expectFault(pattern: RegExp, ...argv: string[]): Promise<void> {
  const result = await runCli(...argv);
  const lines = result.stderr.filter((line) => !line.startsWith('backend: ') && !line.includes('randomly initialised'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.code).toBe(1);
}

describe('environment faults end in exit 1 with the path, what happened, the errno and a remedy', () => {
  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', root, { count: 8 });
  });

  it('--out an existing file', async () => {
    const file = join(directory, 'out-file');
    writeFileSync(file, 'a file, not a folder');
    await expectFault(/^visual-peft-bench: .*out-file.*: cannot be written: .* \((ENOTDIR|EEXIST)\); choose a path whose parents are folders, or move the file away$/, ...trainArgs(file));
  });

  it('--out on a read-only file system (EROFS, injected)', async () => {
    const out = join(directory, 'read-only');
    refusals.set(out, 'EROFS');
    await expectFault(new RegExp(`^visual-peft-bench: ${out}: cannot be written: read-only file system \\(EROFS\\); write to a folder on a writable file system$`), ...trainArgs(out));
    refusals.delete(out);
  });

  it('--out on a full disk (ENOSPC, injected)', async () => {
    const out = join(directory, 'full');
    refusals.set(out, 'ENOSPC');
    await expectFault(new RegExp(`^visual-peft-bench: ${out}: cannot be written: no space left on the device \\(ENOSPC\\); free some space or write to another disk$`), ...trainArgs(out));
    refusals.delete(out);
  });

  // Root writes through any permission bit: the real chmod case needs an ordinary user.
  it.skipIf(process.getuid?.() === 0)('--out in a folder without write permission (EACCES; skipped as root)', async () => {
    const locked = join(directory, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    await expectFault(/locked.*: cannot be written: permission denied \(EACCES\); choose a folder you may write, or change its permissions$/, ...trainArgs(join(locked, 'run')));
  });

  it('data --root a file (ENOTDIR)', async () => {
    const file = join(directory, 'root-file');
    writeFileSync(file, 'x');
    await expectFault(new RegExp(`^visual-peft-bench: ${file}: cannot be read: a part of the path is a file, not a folder \\(ENOTDIR\\); give the path of a folder$`), 'data', '--dataset', 'image-folder', '--root', file);
  });

  it('a backbone config or suite file that is a folder (EISDIR), not "no such file"', async () => {
    const config = join(directory, 'config-folder.json');
    mkdirSync(config);
    await expectFault(new RegExp(`^visual-peft-bench: ${config}: cannot be read: is a folder, not a file \\(EISDIR\\); give the path of a file$`), 'params', '--backbone', config);
    const suite = join(directory, 'suite-folder.yaml');
    mkdirSync(suite);
    await expectFault(new RegExp(`^visual-peft-bench: ${suite}: cannot be read: is a folder, not a file \\(EISDIR\\); give the path of a file$`), 'run', '--suite', suite, '--plan');
  });

  it('a checkpoint that is a folder (EISDIR)', async () => {
    const folder = join(directory, 'weights.safetensors');
    mkdirSync(folder);
    await expectFault(/weights\.safetensors: cannot be read: is a folder, not a file \(EISDIR\); give the path of a file$/, ...trainArgs(join(directory, 'eisdir-run'), '--weights', folder));
  });
});

describe('silently wrong inputs are refused', () => {
  it('a checkpoint holding NaN, naming the tensor, before anything is written', async () => {
    const tensors = parseSafetensors(new Uint8Array(await fsPromises.readFile(tinyVit('tiny-vit.safetensors')))).tensors;
    const poisoned = new Map(tensors);
    const { shape, data } = tensors.get('blocks.1.attn.proj.weight')!;
    const copy = Float32Array.from(data as Float32Array);
    copy[5] = Number.NaN;
    poisoned.set('blocks.1.attn.proj.weight', { dtype: 'float32', shape, data: copy });
    const path = join(directory, 'nan.safetensors');
    writeFileSync(path, serializeSafetensors(poisoned));
    const out = join(directory, 'nan-run');
    await expectFault(/nan\.safetensors: tensor blocks\.1\.attn\.proj\.weight holds 1 non-finite value \(first: NaN at flat index 5\); a checkpoint must hold finite weights$/, ...trainArgs(out, '--weights', path));
    expect(existsSync(out)).toBe(false);
  });

  it('mlpRatio: null in a backbone config, and a whole exponent form for an integer', async () => {
    const nullRatio = join(directory, 'null-ratio.json');
    writeFileSync(nullRatio, JSON.stringify({ embedDim: 32, depth: 2, numHeads: 2, mlpRatio: null }));
    await expectFault(/^visual-peft-bench: mlpRatio must not be null \(leave the field out for its default\), got null$/, 'params', '--backbone', nullRatio);
    const exponent = join(directory, 'exponent-depth.json');
    writeFileSync(exponent, '{"embedDim": 32, "depth": 2e0, "numHeads": 2}');
    await expectFault(/^visual-peft-bench: depth must be an integer >= 1, got "2e0"$/, 'params', '--backbone', exponent);
  });

  it('--set rank=0x8 and rank=1e3 (usage errors, exit 2)', async () => {
    const hex = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'lora', '--set', 'rank=0x8');
    expect(hex).toMatchObject({ code: 2, stderr: ['visual-peft-bench: --set rank=0x8: a number must be a decimal number (digits, an optional fraction and exponent)'] });
    const exponent = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'lora', '--set', 'rank=1e3');
    expect(exponent).toMatchObject({ code: 2, stderr: ['visual-peft-bench: --set rank=1e3: a number must be written in digits when it is whole (1000), not as an exponent form'] });
  });
});

describe('suite files read numbers and nulls strictly', () => {
  it.each([
    ['yaml', 'suite: vtab-1k\nmethods: [linear]\nepochs: 0x8', /: epochs must be an integer >= 1, got "0x8"$/],
    ['yaml', 'suite: vtab-1k\nmethods: [linear]\nepochs: 1e1', /: epochs must be an integer >= 1, got "1e1"$/],
    ['yaml', 'suite: vtab-1k\nmethods: [linear]\nepochs: ~', /: epochs must be an integer >= 1, got null$/],
    ['yaml', 'suite: vtab-1k\nmethods: [linear]\nepochs: 99999999999999999999', /: epochs must be an integer >= 1 of at most 2\^53 - 1, got 100000000000000000000$/],
    ['json', '{"suite": "vtab-1k", "methods": ["linear"], "batchSize": 6.4e1}', /: batchSize must be an integer >= 1, got "6\.4e1"$/],
    ['json', '{"suite": "vtab-1k", "methods": ["linear"], "batchSize": null}', /: batchSize must be an integer >= 1, got null$/],
  ])('%s: %j', async (extension, content, message) => {
    const path = join(directory, `suite-${Math.random().toString(36).slice(2)}.${extension}`);
    writeFileSync(path, content);
    await expect(resolveSuite({ suite: path, backbone: { config: 'vit_tiny_patch16_224', weights: null } })).rejects.toThrow(message);
  });

  it('a fraction may still use an exponent', async () => {
    const path = join(directory, 'grid.yaml');
    writeFileSync(path, 'suite: vtab-1k\nmethods: [linear]\ngrid: { learningRates: [1e-3], weightDecays: [0] }');
    const { resolved } = await resolveSuite({ suite: path, backbone: { config: 'vit_tiny_patch16_224', weights: null } });
    expect(resolved.methods[0]!.recipe.grid.learningRates).toEqual([0.001]);
  });
});

describe('params with absurd sizes is refused before anything is allocated', () => {
  it('--classes 1e12 is not an integer in digits; --classes 1000000000000 is over the size limit', async () => {
    const exponent = await runCli('params', '--backbone', 'vit_base_patch16_224', '--classes', '1e12');
    expect(exponent).toMatchObject({ code: 2, stderr: ['visual-peft-bench: --classes must be an integer >= 0 (in decimal digits, not an exponent form), got "1e12"'] });
    await expectFault(
      /^visual-peft-bench: backbone must have at most 1073741824 parameters \(2\^30 float32 values, 4 GiB; embedDim 768, depth 12, mlpRatio 4, numClasses 1000000000000\), got 769000085798656$/,
      'params', '--backbone', 'vit_base_patch16_224', '--classes', '1000000000000',
    );
  });

  it('embedDim 2^20 with depth 1000', async () => {
    const huge = join(directory, 'huge.json');
    writeFileSync(huge, JSON.stringify({ embedDim: 2 ** 20, depth: 1000, numHeads: 16 }));
    await expectFault(/^visual-peft-bench: backbone must have at most 1073741824 parameters .*embedDim 1048576, depth 1000.*, got 13194155229447144$/, 'params', '--backbone', huge);
  });

  it('--set rank=100000000: the method options are named, from shapes alone', async () => {
    // 12 blocks x (q, v) x (A [768, r] + B [r, 768]).
    await expectFault(
      /^visual-peft-bench: lora options must give at most 1073741824 parameters \(3686400000000 declared\), got \{"rank":100000000\}$/,
      'params', '--backbone', 'vit_base_patch16_224', '--method', 'lora', '--set', 'rank=100000000',
    );
  });
});

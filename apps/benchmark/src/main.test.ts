import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy, serializeNpy } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli';

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const formatFixture = (name: string) => fileURLToPath(new URL(`../../../packages/vit-core/src/checkpoint/__fixtures__/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-'));

const run = runCli;

/** Bad input ends in exactly one stderr line naming the problem, and the given exit code. */
async function expectOneLineError(code: number, pattern: RegExp, ...argv: string[]): Promise<void> {
  const result = await run(...argv);
  expect(result.code).toBe(code);
  expect(result.stderr.filter((line) => !line.startsWith('backend: '))).toHaveLength(1);
  expect(result.stderr.at(-1)).toMatch(pattern);
  expect(result.stderr.join('\n')).not.toMatch(/\n\s+at /);
}

describe('visual-peft-bench params', () => {
  it('counts ViT-B/16 with a 1000-class linear head exactly', async () => {
    const { code, stdout, stderr } = await run('params', '--backbone', 'vit_base_patch16_224', '--method', 'linear', '--classes', '1000');
    expect(code).toBe(0);
    // Counted from shapes: no backend is chosen, so none is reported.
    expect(stderr).toEqual([]);
    expect(JSON.parse(stdout[0]!)).toEqual({
      backbone: 'vit_base_patch16_224',
      method: 'linear',
      options: {},
      numClasses: 1000,
      total: 86_567_656,
      trainable: 769_000,
      extra: 0,
      trainableBackbone: 0,
    });
  });

  it('counts BitFit, full fine-tuning and no method', async () => {
    const bias = JSON.parse((await run('params', '--backbone', 'vit_base_patch16_224', '--method', 'bias')).stdout[0]!);
    expect(bias.trainableBackbone).toBe(102_912);
    const full = JSON.parse((await run('params', '--backbone', 'vit_base_patch16_224', '--method', 'full', '--classes', '0')).stdout[0]!);
    expect(full).toMatchObject({ numClasses: 0, total: 85_798_656, trainable: 85_798_656 });
    const none = JSON.parse((await run('params', '--backbone', tinyVit('config.json'))).stdout[0]!);
    expect(none).toMatchObject({ method: null, numClasses: 10, total: 32_554, trainable: 0 });
  });

  it('refuses bad command lines with one line and exit code 2', async () => {
    await expectOneLineError(2, /--backbone must be one of vit_tiny_patch16_224, .* or a config \.json file, got "vit_huge"/, 'params', '--backbone', 'vit_huge');
    await expectOneLineError(2, /--method must be one of linear, full, bias, .*, got "vpt"/, 'params', '--backbone', 'vit_base_patch16_224', '--method', 'vpt');
    await expectOneLineError(2, /--set needs --method/, 'params', '--backbone', 'vit_base_patch16_224', '--set', 'numPrompts=10');
    await expectOneLineError(2, /--set numPrompts: method linear takes no options/, 'params', '--backbone', 'vit_base_patch16_224', '--method', 'linear', '--set', 'numPrompts=10');
    await expectOneLineError(2, /--set must be key=value with a camelCase key, got "numPrompts"/, 'params', '--backbone', 'x', '--method', 'linear', '--set', 'numPrompts');
    await expectOneLineError(2, /params: Unknown option '--layers'/, 'params', '--layers', '3');
    await expectOneLineError(2, /params: --backbone is required/, 'params');
    await expectOneLineError(2, /--classes must be an integer >= 0, got "-3"/, 'params', '--backbone', 'vit_base_patch16_224', '--classes=-3');
    await expectOneLineError(2, /--backend must be one of auto, tensorflow, wasm, cpu, got "gpu"/, 'predict', '--backbone', 'vit_base_patch16_224', '--weights', 'w.safetensors', '--images', 'x.npy', '--out', 'y.npy', '--backend', 'gpu');
    // params counts from shapes and builds no tensor: it has no backend to choose.
    await expectOneLineError(2, /params: Unknown option '--backend'/, 'params', '--backbone', 'vit_base_patch16_224', '--backend', 'cpu');
    await expectOneLineError(2, /unknown command "fit"; commands: params, predict, /, 'fit');
    await expectOneLineError(2, /--backbone .*missing\.json: no such file/, 'params', '--backbone', join(directory, 'missing.json'));
  });

  it('reports an invalid backbone config by field', async () => {
    const path = join(directory, 'bad-config.json');
    writeFileSync(path, JSON.stringify({ embedDim: 30, numHeads: 4 }));
    await expectOneLineError(1, /numHeads must divide embedDim \(30\), got 4/, 'params', '--backbone', path);
  });
});

describe('visual-peft-bench predict', () => {
  const reference = parseNpy(new Uint8Array(readFileSync(tinyVit('logits.npy'))));
  const common = ['predict', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors')];

  for (const backend of ['cpu', 'wasm']) {
    it(`writes logits that match the PyTorch reference on ${backend}`, async () => {
      const out = join(directory, `new-folder-${backend}`, 'logits.npy');
      const { code, stdout, stderr } = await run(...common, '--images', tinyVit('inputs.npy'), '--out', out, '--backend', backend, '--batch-size', '1');
      expect(code).toBe(0);
      expect(stderr[0]).toMatch(new RegExp(`^backend: ${backend} `));
      expect(stdout).toEqual([`wrote ${out}: float32 [2, 10]`]);
      const logits = parseNpy(new Uint8Array(readFileSync(out)));
      expect(logits.shape).toEqual([2, 10]);
      const scale = Math.max(...Array.from(reference.data, Math.abs));
      const error = Math.max(...Array.from(logits.data, (value, index) => Math.abs(value - reference.data[index]!)));
      expect(error / scale).toBeLessThan(1e-4);
    });
  }

  it('refuses bad input with one line naming the file and the rule', async () => {
    const out = join(directory, 'never.npy');
    await expectOneLineError(2, /predict: --images is required/, ...common, '--out', out);
    await expectOneLineError(2, /--images .*absent\.npy: no such file/, ...common, '--images', join(directory, 'absent.npy'), '--out', out);
    await expectOneLineError(1, /float64\.npy: images must be stored as float32, got float64/, ...common, '--images', formatFixture('float64.npy'), '--out', out);
    const flat = join(directory, 'flat.npy');
    writeFileSync(flat, serializeNpy({ dtype: 'float32', shape: [2, 3, 32], data: new Float32Array(192) }));
    await expectOneLineError(1, /flat\.npy: images must be a 4-D NCHW batch \[batch, channels, height, width\], got shape \[2, 3, 32\]/, ...common, '--images', flat, '--out', out);
    const gray = join(directory, 'gray.npy');
    writeFileSync(gray, serializeNpy({ dtype: 'float32', shape: [1, 1, 32, 32], data: new Float32Array(1024) }));
    await expectOneLineError(1, /gray\.npy: images have 1 channels, the backbone takes 3/, ...common, '--images', gray, '--out', out);
    const odd = join(directory, 'odd.npy');
    writeFileSync(odd, serializeNpy({ dtype: 'float32', shape: [1, 3, 30, 30], data: new Float32Array(2700) }));
    await expectOneLineError(1, /imgSize must be a multiple of patchSize \(8\), got \[30, 30\]/, ...common, '--images', odd, '--out', out);
    await expectOneLineError(
      1,
      /tiny-vit\.safetensors does not fit the model: wrong shapes: head\.weight expected \[5, 32\] found \[10, 32\]; .*head\.bias/,
      ...common, '--images', tinyVit('inputs.npy'), '--out', out, '--classes', '5',
    );
    const blocked = join(directory, 'a-file');
    writeFileSync(blocked, 'not a folder');
    await expectOneLineError(1, /a-file\/logits\.npy: cannot be written: .* \((ENOTDIR|EEXIST)\); choose a path whose parents are folders, or move the file away$/, ...common, '--images', tinyVit('inputs.npy'), '--out', join(blocked, 'logits.npy'));
    await expectOneLineError(1, /weights\.pth: PyTorch pickles are not read; convert it first/, 'predict', '--backbone', 'vit_base_patch16_224', '--weights', 'weights.pth', '--images', tinyVit('inputs.npy'), '--out', out);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { perImageSlope } from './memory';
import { runCli } from '../run-cli';
import { hasTorch } from './__fixtures__/has-torch';

const tinyConfig = fileURLToPath(new URL('../../../../packages/vit-core/src/__fixtures__/tiny-vit/config.json', import.meta.url));
const tiny = ['memory', '--backbone', tinyConfig, '--classes', '5'];


interface MethodJson {
  perImageBytes: number;
  peakBytes: number[];
  trainable: number;
  tensorPeakBytes?: number[];
  tensorPerImageBytes?: number;
  torch?: { trainable: number; peakRssBytes: number[]; savedBytes: number[]; rssPerImageBytes: number; savedPerImageBytes: number };
}

/** The slope by the closed form (n Σxy - Σx Σy) / (n Σx² - (Σx)²), independent of the command's own arithmetic. */
function closedFormSlope(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
  const xy = sum(x.map((value, index) => value * y[index]!));
  const xx = sum(x.map((value) => value * value));
  return (n * xy - sum(x) * sum(y)) / (n * xx - sum(x) ** 2);
}

/** The rows of the Markdown table as arrays of cells, header first. */
function tableRows(stdout: readonly string[]): string[][] {
  return stdout.filter((line) => line.startsWith('| ') && !line.startsWith('| ---')).map((line) => line.slice(2, -2).split(' | '));
}

describe('perImageSlope', () => {
  it('is the least-squares slope of bytes over batch sizes; with two sizes, the difference over the size difference', () => {
    expect(perImageSlope([2, 4], [100, 180])).toBe(40);
    expect(perImageSlope([1, 2, 4], [10, 20, 45])).toBeCloseTo(165 / 14, 12);
    expect(perImageSlope([1, 2, 3], [7, 7, 7])).toBe(0);
  });
});

describe('visual-peft-bench memory', () => {
  it('on cpu: a table of tensor peaks per batch and their slope per image, then one JSON object; --set reaches its method', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const { code, stdout, stderr } = await runCli(
      ...tiny,
      ...['--methods', 'full,linear,vpt-deep,vqt', '--batch', '1,2,4', '--backend', 'cpu', '--torch', 'off', '--set', 'vpt-deep.numPrompts=3'],
    );
    expect(code, stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors, 'tensors left after the command').toBe(tensorsBefore);
    expect(stdout[0]).toMatch(/^Peak memory of one training step \(forward, backward, SGD with momentum\): .*config\.json, 32x32, 5 classes, cpu backend$/);
    const rows = tableRows(stdout);
    expect(rows[0]).toEqual(['method', 'trainable parameters', 'peak at batch 1 (MiB)', 'peak at batch 2 (MiB)', 'peak at batch 4 (MiB)', 'per image (MiB)']);
    expect(rows.slice(1).map((row) => row[0])).toEqual(['full', 'linear', 'vpt-deep', 'vqt']);
    // VPT-deep with 3 prompts on the tiny ViT (2 blocks of width 32, 5 classes): 2 x 3 x 32 prompts and a 32 x 5 + 5 head.
    expect(rows[3]![1]).toBe('357');
    expect(stdout).toContainEqual(expect.stringMatching(/^Peak: tf\.profile's peak of tensor bytes .* Per image: the least-squares slope of the peak over batch sizes 1, 2, 4\.$/));

    const json = JSON.parse(stdout.at(-1)!) as Record<string, MethodJson>;
    expect(Object.keys(json)).toEqual(['full', 'linear', 'vpt-deep', 'vqt']);
    for (const [method, result] of Object.entries(json)) {
      expect(Object.keys(result), method).toEqual(['perImageBytes', 'peakBytes', 'trainable']);
      expect(result.peakBytes).toHaveLength(3);
      expect(result.perImageBytes, method).toBe(Math.round(closedFormSlope([1, 2, 4], result.peakBytes)));
      // Each image adds activations: the peak grows with the batch.
      expect(result.peakBytes[0]).toBeLessThan(result.peakBytes[1]!);
      expect(result.peakBytes[1]).toBeLessThan(result.peakBytes[2]!);
    }
    expect(json['vpt-deep']!.trainable).toBe(357);
    // The table shows the JSON's numbers in MiB.
    expect(rows[1]!.slice(2)).toEqual([...json.full!.peakBytes, json.full!.perImageBytes].map((bytes) => (bytes / 2 ** 20).toFixed(1)));
    // Only the head's inputs, and VQT's query path, are on the tape: their per-image cost is the
    // off-tape forward's activations, below what full fine-tuning saves for its backward pass.
    expect(json.linear!.perImageBytes).toBeLessThan(json.full!.perImageBytes);
    expect(json.vqt!.perImageBytes).toBeLessThan(json.full!.perImageBytes);
  });

  describe('on wasm, each point in a fresh process', () => {
    // Wide enough for the heap to grow past its first 16 MiB: full fine-tuning holds weights, gradients and momentum.
    let directory: string;
    let config: string;
    beforeAll(async () => {
      directory = await mkdtemp(join(tmpdir(), 'memory-test-'));
      config = join(directory, 'vit.json');
      await writeFile(config, JSON.stringify({ imgSize: 32, patchSize: 16, embedDim: 384, depth: 4, numHeads: 6 }));
    });
    afterAll(() => rm(directory, { recursive: true, force: true }));

    it('reports the heap high-water mark and the tensor peak; a later, smaller step is not masked by an earlier one', async () => {
      const { code, stdout, stderr } = await runCli('memory', '--backbone', config, '--classes', '5', '--methods', 'full,linear', '--batch', '1,2', '--backend', 'wasm', '--torch', 'off');
      expect(code, stderr.join('\n')).toBe(0);
      expect(stdout[0]).toMatch(/, wasm backend$/);
      expect(tableRows(stdout)[0]).toEqual([
        'method',
        'trainable parameters',
        'peak at batch 1 (MiB): heap (tensors)',
        'peak at batch 2 (MiB): heap (tensors)',
        'per image (MiB)',
        'tensors per image (MiB)',
      ]);
      expect(stdout).toContainEqual(expect.stringMatching(/^Peak: the wasm heap's high-water mark \(its size after the step, each point in a fresh process\)/));
      const json = JSON.parse(stdout.at(-1)!) as Record<string, MethodJson>;
      for (const result of Object.values(json)) {
        expect(Object.keys(result)).toEqual(['perImageBytes', 'peakBytes', 'trainable', 'tensorPeakBytes', 'tensorPerImageBytes']);
        // The heap is WebAssembly memory: whole 64 KiB pages, grown past the initial 16 MiB.
        result.peakBytes.forEach((bytes) => expect(bytes % 65_536).toBe(0));
        expect(result.perImageBytes).toBe(Math.round(closedFormSlope([1, 2], result.peakBytes)));
        expect(result.tensorPerImageBytes).toBe(Math.round(closedFormSlope([1, 2], result.tensorPeakBytes!)));
      }
      const { full, linear } = json as { full: MethodJson; linear: MethodJson };
      expect(full.peakBytes[0]).toBeGreaterThan(16 * 2 ** 20);
      // Measured after full fine-tuning, the linear probe's heap is far smaller: in one process it could not shrink.
      expect(linear.peakBytes[1]).toBeLessThan(full.peakBytes[0]!);
      // Full fine-tuning keeps weights, gradients and momentum (7.4M parameters, 4 bytes each) on the heap.
      expect(full.peakBytes[0]).toBeGreaterThan(3 * 4 * full.trainable);
    });
  });

  it.skipIf(!hasTorch)('puts the PyTorch reference beside: the same trainable parameters, its slopes and the ratios', async () => {
    const { code, stdout, stderr } = await runCli(...tiny, '--methods', 'vpt-deep,sct,lora', '--batch', '1,2', '--backend', 'cpu', '--set', 'vpt-deep.numPrompts=3');
    expect(code, stderr.join('\n')).toBe(0);
    const rows = tableRows(stdout);
    expect(rows[0]!.slice(-4)).toEqual(['PyTorch RSS per image (MiB)', 'PyTorch saved per image (MiB)', 'ratio to PyTorch RSS', 'ratio to PyTorch saved']);
    expect(rows[3]!.slice(-4)).toEqual(['—', '—', '—', '—']);
    expect(stdout).toContainEqual('No PyTorch reference for: lora (no PyTorch reference for this method).');
    expect(stdout).toContainEqual(expect.stringMatching(/^PyTorch 1\.\d+.*, 2 threads, the same steps, each point in a fresh process: /));
    const json = JSON.parse(stdout.at(-1)!) as Record<string, MethodJson>;
    expect(json.lora!.torch).toBeUndefined();
    for (const method of ['vpt-deep', 'sct']) {
      const { torch, trainable, perImageBytes } = json[method]!;
      // The reference builds the same method: the same parameters train (vpt-deep with its 3 prompts, SCT's K = 32 / 8 = 4).
      expect(torch!.trainable, method).toBe(trainable);
      expect(torch!.savedPerImageBytes).toBe(torch!.savedBytes[1]! - torch!.savedBytes[0]!);
      expect(torch!.rssPerImageBytes).toBe(torch!.peakRssBytes[1]! - torch!.peakRssBytes[0]!);
      const row = rows.find((cells) => cells[0] === method)!;
      expect(row.at(-1)).toBe((perImageBytes / torch!.savedPerImageBytes).toFixed(2));
    }
    expect(stderr.filter((line) => line.startsWith('torch:'))).toEqual([]);
  });

  it('without PyTorch, says why and leaves its columns out', async () => {
    const { code, stdout, stderr } = await runCli(...tiny, '--methods', 'linear,full', '--backend', 'cpu', '--python', '/nonexistent/python3');
    expect(code).toBe(0);
    expect(stderr).toContainEqual(expect.stringMatching(/^torch: not available from \/nonexistent\/python3: .*ENOENT/));
    expect(tableRows(stdout)[0]).toHaveLength(5);
    const json = JSON.parse(stdout.at(-1)!) as Record<string, MethodJson>;
    expect(Object.values(json).map((result) => result.torch)).toEqual([undefined, undefined]);
  });

  it('refuses bad input with one line naming the flag and the rule', async () => {
    const cases: Array<[RegExp, string[]]> = [
      [/^visual-peft-bench: --batch must list at least two batch sizes \(the per-image slope needs two\), got "4"$/, ['--batch', '4']],
      [/^visual-peft-bench: --batch must be an integer >= 1, got "2\.5"$/, ['--batch', '1,2.5']],
      [/^visual-peft-bench: --batch must be an integer >= 1, got "0"$/, ['--batch', '0,2']],
      [/^visual-peft-bench: --batch must list each size once, in ascending order, got "2,2"$/, ['--batch', '2,2']],
      [/^visual-peft-bench: --batch must list each size once, in ascending order, got "1,4,2"$/, ['--batch', '1,4,2']],
      [/^visual-peft-bench: --set sct\.k=4 names method "sct", which --methods does not list \(full,vpt-deep\)$/, ['--set', 'sct.k=4']],
      [/^visual-peft-bench: --set must be <method>\.<key>=<value>, got "numPrompts=4"$/, ['--set', 'numPrompts=4']],
      [/^visual-peft-bench: --torch must be auto or off, got "maybe"$/, ['--torch', 'maybe']],
      [/^visual-peft-bench: --method must be one of .*, got "vpt-huge"$/, ['--methods', 'full,vpt-huge']],
      [/^visual-peft-bench: memory: Unknown option '--batches'/, ['--batches', '1,2']],
      [/^visual-peft-bench: --recompute recomputes the backbone's blocks in the backward pass, and vqt does not back-propagate through them .*: drop --recompute$/, ['--methods', 'full,vqt', '--recompute']],
    ];
    for (const [pattern, flags] of cases) {
      const { code, stderr } = await runCli(...tiny, '--methods', 'full,vpt-deep', '--backend', 'cpu', ...flags);
      expect(code, flags.join(' ')).toBe(2);
      expect(stderr).toEqual([expect.stringMatching(pattern)]);
    }
  });

  it('lets a method check its own options before anything is measured', async () => {
    const { code, stdout, stderr } = await runCli(...tiny, '--methods', 'full,vpt-deep', '--backend', 'cpu', '--set', 'vpt-deep.numPrompts=0');
    expect(code).toBe(1);
    expect(stderr.at(-1)).toBe('visual-peft-bench: numPrompts must be an integer >= 1, got 0');
    expect(stderr.some((line) => /batch/.test(line))).toBe(false);
    expect(stdout).toEqual([]);
  });
});

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../run-cli';
import { hasTorch } from './__fixtures__/has-torch';

const tinyConfig = fileURLToPath(new URL('../../../../packages/vit-core/src/__fixtures__/tiny-vit/config.json', import.meta.url));
const tiny = ['speed', '--model', tinyConfig, '--batch', '1,2', '--repeats', '1', '--threads', '2'];


/** The rows of the markdown table whose header row starts with `first`, as arrays of cells. */
function tableRows(stdout: readonly string[], first: string): string[][] {
  const start = stdout.findIndex((line) => line.startsWith(`| ${first} |`));
  expect(start).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (let index = start; index < stdout.length && stdout[index]!.startsWith('|'); index++) {
    rows.push(stdout[index]!.slice(2, -2).split(' | '));
  }
  return rows;
}

describe('visual-peft-bench speed', () => {
  it('prints the products, block and training-step tables for each backend, then the headline as JSON', async () => {
    const { code, stdout } = await run(...tiny, '--backends', 'wasm,wasm-fast,wasm-fast-mt,wasm-onnx,cpu');
    expect(code).toBe(0);
    expect(stdout.slice(0, 8)).toEqual([
      expect.stringMatching(/^Machine: \d+ cores \(.*\), Node 20\.\d+\.\d+, load average \d+\.\d at the start, \d+\.\d at the end\.$/),
      '',
      'Backends:',
      expect.stringMatching(/^- wasm stock: @tensorflow\/tfjs-backend-wasm 4\.22\.0, CPU \(WebAssembly/),
      expect.stringMatching(/^- wasm fast, 1 thread: .*installFastWasmKernels\(\{ threads: 1 \}\)$/),
      expect.stringMatching(/^- wasm fast, 2 threads: .*installFastWasmKernels\(\{ threads: 2 \}\)$/),
      expect.stringMatching(/^- wasm fast \+ onnxruntime, 2 threads: .*installFastWasmKernels\(\{ threads: 2, gemm: 'onnxruntime' \}\): onnxruntime-node \d+\.\d+\.\d+$/),
      expect.stringMatching(/^- cpu: @tensorflow\/tfjs-backend-cpu 4\.22\.0, CPU \(JavaScript\)$/),
    ]);
    const labels = ['wasm stock', 'wasm fast, 1 thread', 'wasm fast, 2 threads', 'wasm fast + onnxruntime, 2 threads', 'cpu'];
    const number = /^\d+(\.\d+)?$/;

    const products = tableRows(stdout, 'product');
    expect(products[0]).toEqual(['product', 'A x B', ...labels]);
    expect(products.slice(2).map((row) => row[0])).toEqual([
      'fc1 forward: x W',
      'fc1 input gradient: dy W^T',
      'fc1 weight gradient: x^T dy',
      'fc1 on 3-D tokens: [B, T, D] W',
      'attention logits: q k^T per head',
      'attention mix: p v per head',
    ]);
    // The tiny model has 17 tokens, width 32, MLP 128, 4 heads of 8; the products are at the largest batch.
    expect(products[2]![1]).toBe('[34, 32] x [32, 128]');
    expect(products[6]![1]).toBe('[2, 4, 17, 8] x [2, 4, 17, 8]');
    products.slice(2).forEach((row) => row.slice(2).forEach((cell) => expect(cell).toMatch(number)));

    const blocks = tableRows(stdout, 'batch');
    expect(blocks.slice(2).map((row) => row.slice(0, 2))).toEqual([
      ['1', 'forward'],
      ['1', 'forward+backward'],
      ['2', 'forward'],
      ['2', 'forward+backward'],
    ]);
    blocks.slice(2).forEach((row) => row.slice(2).forEach((cell) => expect(cell).toMatch(number)));

    const steps = tableRows(stdout, 'method');
    // By default: the baselines and the papers' methods, each through the trainer with its own forward.
    expect(steps.slice(2).map((row) => row[0])).toEqual(['linear', 'vpt-deep', 'gated-prompt', 'vqt', 'sct', 'full']);
    steps.slice(2).forEach((row) => row.slice(1).forEach((cell) => expect(cell).toMatch(/^\d+(\.\d+)?, \d+ MiB$/)));

    const headline = JSON.parse(stdout.at(-1)!);
    expect(headline).toMatchObject({
      benchmark: 'speed',
      measure: 'one ViT block forward+backward (all weights), batch 2',
      fastest: expect.stringMatching(/^wasm-(fast|fast-mt|onnx)$/),
      threads: 2,
      speedupVsStockWasm: expect.any(Number),
      ratioToPyTorch: null,
    });
    expect(Object.keys(headline.seconds)).toEqual(['wasm', 'wasm-fast', 'wasm-fast-mt', 'wasm-onnx', 'cpu']);
    // Rounded to three significant digits.
    expect(headline.speedupVsStockWasm / (headline.seconds.wasm / headline.seconds[headline.fastest])).toBeCloseTo(1, 2);
  });

  it.skipIf(!hasTorch)('runs the same block and steps in PyTorch and gives our time over its time', async () => {
    const { code, stdout } = await run(...tiny, '--backends', 'wasm,wasm-fast,torch', '--methods', 'linear,vpt-deep,vqt', '--python', '/usr/bin/python3');
    expect(code).toBe(0);
    expect(stdout).toContainEqual(expect.stringMatching(/^- PyTorch: PyTorch 1\.\d+.*, 2 threads, BLAS \/.*blas.*$/));
    const steps = tableRows(stdout, 'method');
    expect(steps[0]).toEqual(['method', 'wasm stock', 'wasm fast, 1 thread', 'PyTorch']);
    // PyTorch's steps are memory_torch.py's model with each method's options as tfjs resolved them; VQT has none there.
    expect(steps.slice(2).map((row) => row[0])).toEqual(['linear', 'vpt-deep', 'vqt']);
    expect(steps[2]![3]).toMatch(/^\d+(\.\d+)?, \d+ MiB$/);
    expect(steps[3]![3]).toMatch(/^\d+(\.\d+)?, \d+ MiB$/);
    expect(steps[4]![3]).toBe('skipped (no PyTorch reference for this method)');
    const headline = JSON.parse(stdout.at(-1)!);
    expect(headline.ratioToPyTorch / (headline.seconds['wasm-fast'] / headline.seconds.torch)).toBeCloseTo(1, 2);
  });

  it('without PyTorch, says why and reports ratioToPyTorch as null', async () => {
    const { code, stdout, stderr } = await run(...tiny, '--backends', 'wasm,wasm-fast,torch', '--methods', 'linear', '--python', '/nonexistent/python3');
    expect(code).toBe(0);
    expect(stderr).toContainEqual(expect.stringMatching(/^torch: not available from \/nonexistent\/python3: .*ENOENT/));
    expect(JSON.parse(stdout.at(-1)!)).toMatchObject({ ratioToPyTorch: null, speedupVsStockWasm: expect.any(Number) });
  });

  it('with --recompute, times the training steps with blocks recomputed and says so', async () => {
    const { code, stdout } = await run(...tiny, '--backends', 'cpu', '--methods', 'full', '--recompute');
    expect(code).toBe(0);
    expect(stdout).toContainEqual(
      'Training step (forward, backward, SGD with momentum, tfjs blocks recomputed in the backward pass (TrainerOptions.recompute; PyTorch without)), batch 2: images/s, peak tensor memory:',
    );
    expect(tableRows(stdout, 'method')[2]).toEqual(['full', expect.stringMatching(/^\d+(\.\d+)?, \d+ MiB$/)]);
  });

  it('refuses bad flags with one line naming the flag', async () => {
    const cases: Array<[RegExp, string[]]> = [
      [/--backends must list some of wasm, wasm-fast, wasm-fast-mt, wasm-onnx, cpu, tensorflow, torch, got "gpu"/, ['--backends', 'wasm,gpu']],
      [/--batch must be an integer >= 1, got "0"/, ['--batch', '4,0']],
      [/--batch must be a comma-separated list, got "4,,8"/, ['--batch', '4,,8']],
      [/--repeats must be an integer >= 1, got "0"/, ['--repeats', '0']],
      [/--methods must be one of .*, got "vpt-shallow-typo"/, ['--methods', 'linear,vpt-shallow-typo']],
      [/speed: Unknown option '--batches'/, ['--batches', '4']],
    ];
    for (const [pattern, flags] of cases) {
      const { code, stderr } = await run('speed', ...flags);
      expect(code).toBe(2);
      expect(stderr).toEqual([expect.stringMatching(pattern)]);
    }
  });
});

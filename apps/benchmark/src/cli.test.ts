/**
 * The built binary, run the way a user runs it: Node's own module loader (not the test runner's)
 * resolves every package, and bad input must end in one line and a non-zero exit.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const tinyVit = (name: string) => fileURLToPath(new URL(`../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const run = promisify(execFile);

describe('the built visual-peft-bench binary', () => {
  it('prints exact parameter counts', async () => {
    const { stdout, stderr } = await run('node', [cli, 'params', '--backbone', 'vit_small_patch16_224', '--method', 'linear', '--classes', '10']);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toMatchObject({ method: 'linear', numClasses: 10, total: 21_669_514, trainable: 3_850 });
  });

  it('predicts on the backend it resolved by itself', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'visual-peft-cli-')), 'logits.npy');
    const { stdout, stderr } = await run('node', [cli, 'predict', '--backbone', tinyVit('config.json'), '--weights', tinyVit('tiny-vit.safetensors'), '--images', tinyVit('inputs.npy'), '--out', out]);
    expect(stderr).toMatch(/^backend: (tensorflow|wasm|cpu) \(/);
    expect(stdout.trim()).toBe(`wrote ${out}: float32 [2, 10]`);
  });

  it('exits non-zero with one line and no stack trace on bad input', async () => {
    const failure = await run('node', [cli, 'params', '--backbone', 'vit_giant']).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^visual-peft-bench: --backbone must be one of .* got "vit_giant"$/),
    ]);
  });
});

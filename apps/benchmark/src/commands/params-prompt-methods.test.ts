import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';

/** `params` on ViT-B/16 (1000 classes) with a prompt method and options; the parsed JSON line. */
async function params(method: string, ...options: string[]): Promise<{ total: number; trainable: number; extra: number; trainableBackbone: number }> {
  const { code, stdout } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', method, ...options.flatMap((pair) => ['--set', pair]));
  expect(code).toBe(0);
  return JSON.parse(stdout[0]!);
}

const VIT_B_TOTAL = 86_567_656;
const HEAD = 769_000;

describe('params with the prompt methods on vit_base_patch16_224', () => {
  it('counts VPT-deep with 10 prompts as 12 x 10 x 768 = 92,160 extra, trained with the head', async () => {
    expect(await params('vpt-deep', 'numPrompts=10')).toMatchObject({ extra: 92_160, trainable: HEAD + 92_160, total: VIT_B_TOTAL + 92_160, trainableBackbone: 0 });
  });

  it('counts VPT-shallow with 100 prompts as 76,800 and GatedPT as 76,800 + 11 gates + 12 temperatures = 76,823', async () => {
    expect((await params('vpt-shallow', 'numPrompts=100')).extra).toBe(76_800);
    expect((await params('gated-prompt', 'numPrompts=100')).extra).toBe(76_823);
    expect((await params('gated-prompt', 'numPrompts=100', 'gates=false')).extra).toBe(76_812);
    expect((await params('gated-prompt', 'numPrompts=100', 'temperature=false')).extra).toBe(76_811);
  });

  it('counts Self-Prompt Tuning like the method it initialises', async () => {
    expect((await params('vpt-shallow', 'numPrompts=100', 'init=kmeans')).extra).toBe(76_800);
    expect((await params('vpt-deep', 'numPrompts=20', 'init=mean-pool')).extra).toBe(12 * 20 * 768);
  });

  it('names a bad option', async () => {
    const { code, stderr } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'gated-prompt', '--set', 'init=pca');
    expect(code).toBe(1);
    expect(stderr.at(-1)).toMatch(/init must be one of uniform, kmeans, mean-pool, max-pool, random-token, got "pca"/);
  });
});

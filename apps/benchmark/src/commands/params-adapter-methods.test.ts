import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';

/** ViT-B/16 with no head: every parameter of the bare backbone (as `--method full --classes 0` counts). */
const BACKBONE = 85_798_656;

async function params(method: string, ...set: string[]): Promise<Record<string, number>> {
  const { code, stdout } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--classes', '0', '--method', method, ...set.flatMap((pair) => ['--set', pair]));
  expect(code).toBe(0);
  return JSON.parse(stdout[0]!);
}

describe('params for the adapter baselines on vit_base_patch16_224', () => {
  it("adapter bottleneck=8 adds the papers' Adapter-8: 12 x (768*8+8 + 8*768+768)", async () => {
    const counts = await params('adapter', 'bottleneck=8');
    expect(counts.extra).toBe(156_768);
    expect(counts).toMatchObject({ total: BACKBONE + 156_768, trainable: 156_768, trainableBackbone: 0 });
  });

  it('lora rank=8 on q and v adds 294,912', async () => {
    expect((await params('lora', 'rank=8')).extra).toBe(294_912);
    expect((await params('lora', 'rank=4', 'alpha=16')).extra).toBe(294_912 / 2);
  });

  it('adaptformer adds 12 x (768*64+64 + 64*768+768) by default, 2 x 768 more per block with its LayerNorm', async () => {
    expect((await params('adaptformer')).extra).toBe(12 * (768 * 64 + 64 + 64 * 768 + 768));
    expect((await params('adaptformer', 'layerNorm=in')).extra).toBe(12 * (768 * 64 + 64 + 64 * 768 + 768 + 2 * 768));
  });

  it("ssf adds a scale and a shift on 768 + 12 x 11 x 768 + 768 channels: the papers' 0.20M", async () => {
    const extra = (await params('ssf')).extra!;
    expect(extra).toBe(2 * (768 + 12 * 11 * 768 + 768));
    expect(extra).toBe(205_824);
  });

  it('names a bad option', async () => {
    const { code, stderr } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'lora', '--set', 'rank=0');
    expect(code).toBe(1);
    expect(stderr.at(-1)).toBe('visual-peft-bench: rank must be an integer >= 1, got 0');
  });
});

import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';

async function extra(...set: string[]): Promise<number> {
  const { code, stdout } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'sct', ...set.flatMap((pair) => ['--set', pair]));
  expect(code).toBe(0);
  return JSON.parse(stdout[0]!).extra;
}

describe('params --method sct on vit_base_patch16_224', () => {
  it("adds L * (K^2 + K): the paper's 0.11M, 0.44M and 0.01M", async () => {
    expect(await extra('k=96')).toBe(111_744);
    expect(await extra('k=192')).toBe(444_672);
    expect(await extra('k=32')).toBe(12_672);
    expect(await extra('k=192x4,96x8')).toBe(4 * (192 * 192 + 192) + 8 * (96 * 96 + 96));
    expect(await extra('k=96', 'position=both')).toBe(2 * 111_744);
  });

  it('names a bad option', async () => {
    const { code, stderr } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--method', 'sct', '--set', 'k=1000');
    expect(code).toBe(1);
    expect(stderr.at(-1)).toMatch(/k must hold integers in \[1, embedDim = 768\], got 1000/);
  });
});

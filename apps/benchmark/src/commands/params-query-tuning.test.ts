import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';

async function params(...set: string[]): Promise<Record<string, number>> {
  const { code, stdout } = await runCli('params', '--backbone', 'vit_base_patch16_224', '--classes', '100', '--method', 'vqt', ...set.flatMap((pair) => ['--set', pair]));
  expect(code).toBe(0);
  return JSON.parse(stdout[0]!);
}

describe('params --method vqt on vit_base_patch16_224', () => {
  it('adds L * T * D query parameters; its own head reads D + L*T*D features; the backbone trains nothing', async () => {
    const one = await params('numQueries=1');
    expect(one.extra).toBe(9_216);
    expect(one.trainableBackbone).toBe(0);
    expect(one.trainable).toBe(9_216 + (768 + 12 * 768) * 100 + 100);
    expect((await params('numQueries=10')).extra).toBe(92_160);
  });
});

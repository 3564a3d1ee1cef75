import { describe, expect, it } from 'vitest';
import { main } from '../main';

async function run(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
  return { code, stdout, stderr };
}

/** ViT-B/16 without its classifier: 86,567,656 - (768 x 1000 + 1000). */
const VIT_B_BACKBONE = 85_798_656;

describe('params --head setr-pup', () => {
  it('adds SETR-PUP’s decode head and two auxiliary heads for ADE20K’s 150 classes to ViT-B/16', async () => {
    const { code, stdout } = await run('params', '--backbone', 'vit_base_patch16_224', '--head', 'setr-pup', '--classes', '150');
    expect(code).toBe(0);
    const result = JSON.parse(stdout[0]!);
    // LayerNorm 2 x 768; stage 1: 3x3 conv 768 -> 256 without bias + BatchNorm; stages 2-4: 256 -> 256; classifier 256 x 150 + 150.
    const layerNorm = 2 * 768;
    const firstStage = 9 * 768 * 256 + 2 * 256;
    const laterStage = 9 * 256 * 256 + 2 * 256;
    const classifier = 256 * 150 + 150;
    const decode = layerNorm + firstStage + 3 * laterStage + classifier;
    const auxiliary = 2 * (layerNorm + firstStage + laterStage + classifier);
    expect(result.segmentationHead).toEqual({ head: 'setr-pup', numClasses: 150, decode, auxiliary, total: decode + auxiliary });
    expect(result.segmentationHead).toMatchObject({ decode: 3_581_078, auxiliary: 4_800_812, total: 8_381_890 });
    expect(result).toMatchObject({ numClasses: 0, total: VIT_B_BACKBONE + 8_381_890, trainable: 8_381_890, extra: 0 });
  });

  it('counts the heads on top of a tuning method', async () => {
    const { code, stdout } = await run('params', '--backbone', 'vit_base_patch16_224', '--head', 'setr-pup', '--classes', '150', '--method', 'vpt-deep', '--set', 'numPrompts=10');
    expect(code).toBe(0);
    expect(JSON.parse(stdout[0]!)).toMatchObject({ extra: 92_160, trainable: 92_160 + 8_381_890, total: VIT_B_BACKBONE + 92_160 + 8_381_890 });
  });

  it('names a bad head and a missing class count', async () => {
    const unknown = await run('params', '--backbone', 'vit_base_patch16_224', '--head', 'upernet', '--classes', '150');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.at(-1)).toMatch(/--head must be one of setr-pup, got "upernet"/);
    const noClasses = await run('params', '--backbone', 'vit_base_patch16_224', '--head', 'setr-pup');
    expect(noClasses.code).toBe(2);
    expect(noClasses.stderr.at(-1)).toMatch(/params: --head setr-pup needs --classes N >= 1 \(150 for ADE20K\)/);
  });
});

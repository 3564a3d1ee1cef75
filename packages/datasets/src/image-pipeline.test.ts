import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { decodeImage } from './decode-image';
import { createImagePipeline, pipelinePreset, runImagePipeline } from './image-pipeline';
import { SeededRandom } from '@visual-peft/vit-core';
import { writeSyntheticDataset } from './synthetic-dataset';
import { cropImage } from './transforms';
import { loadVtab } from './vtab';

const base = mkdtempSync(join(tmpdir(), 'datasets-pipeline-'));

/** Exact equality of large pixel arrays (vitest's deep equality is slow on 150k elements). */
function expectSame(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const first = actual.findIndex((value, i) => value !== expected[i]);
  expect(first).toBe(-1);
}
const example = (async () => {
  // A 4:3 image at CUB's typical 500 x 375.
  await writeSyntheticDataset('vtab-cifar', base, { count: 1, width: 500, height: 375 });
  return (await loadVtab('cifar', base, 'test')).examples[0]!;
})();

describe('pipeline presets (docs/recipes.md, Preprocessing)', () => {
  it('fgvc-test: shorter side 256 bilinear, then the centre 224', async () => {
    const input = await example;
    const out = await runImagePipeline(input, pipelinePreset('fgvc-test'), new SeededRandom(0));
    const resized = await decodeImage(input.image, { mode: 'shorter', size: 256, interpolation: 'bilinear' }, input.origin);
    expect([resized.width, resized.height]).toEqual([341, 256]);
    expectSame(out.data, cropImage(resized, { left: 58, top: 16, width: 224, height: 224 }).data);
  });

  it('fgvc-train: random crop of the resized image and a coin-flip mirror', async () => {
    const input = await example;
    const outputs = await Promise.all(Array.from({ length: 6 }, (_, seed) => runImagePipeline(input, pipelinePreset('fgvc-train'), new SeededRandom(seed))));
    for (const out of outputs) expect([out.width, out.height]).toEqual([224, 224]);
    expect(new Set(outputs.map((out) => out.data[0])).size).toBeGreaterThan(1);
  });

  it('vtab resizes straight to 224 (bilinear); SCT\'s uses bicubic and augments', async () => {
    const input = await example;
    const vtab = await runImagePipeline(input, pipelinePreset('vtab'), new SeededRandom(0));
    expectSame(vtab.data, (await decodeImage(input.image, { mode: 'exact', width: 224, height: 224, interpolation: 'bilinear' }, input.origin)).data);
    const sctTest = await runImagePipeline(input, pipelinePreset('vtab-sct-test'), new SeededRandom(0));
    expectSame(sctTest.data, (await decodeImage(input.image, { mode: 'exact', width: 224, height: 224, interpolation: 'bicubic' }, input.origin)).data);
    expect(pipelinePreset('vtab-sct-train').steps).toHaveLength(2);
    expect(pipelinePreset('vtab-sct-train', { colorJitter: true }).steps).toHaveLength(3);
    const augmented = await Promise.all([1, 2, 3].map((seed) => runImagePipeline(input, pipelinePreset('vtab-sct-train'), new SeededRandom(seed))));
    expect(augmented.some((out) => out.data.some((value, i) => value !== sctTest.data[i]))).toBe(true);
  });

  it('scales the recipe with imageSize as VPT does (384 -> 438, 448 -> 512)', () => {
    expect(pipelinePreset('fgvc-train', { imageSize: 384 }).resize).toEqual({ mode: 'shorter', size: 438, interpolation: 'bilinear' });
    expect(pipelinePreset('fgvc-test', { imageSize: 448 }).resize).toEqual({ mode: 'shorter', size: 512, interpolation: 'bilinear' });
  });

  it('refuses an image that leaves the pipeline at the wrong size', async () => {
    const input = await example;
    const wrong = createImagePipeline({ resize: { mode: 'exact', width: 10, height: 10, interpolation: 'bilinear' }, outputSize: [12, 12] });
    await expect(runImagePipeline(input, wrong, new SeededRandom(0))).rejects.toThrow(ShapeError);
  });

  it('names the field of a bad setting', () => {
    expect(() => pipelinePreset('fgvc-train', { imageSize: 0 })).toThrow(new ConfigError('imageSize', 0, 'must be an integer >= 1'));
    expect(() => pipelinePreset('fgvc-train', { resizeSize: 100 })).toThrow(/resizeSize must be an integer >= imageSize \(224\), got 100/);
    expect(() => pipelinePreset('imagenet' as 'vtab')).toThrow(/preset must be one of fgvc-train, fgvc-test, vtab, vtab-sct-train, vtab-sct-test/);
    expect(() => createImagePipeline({ resize: null, outputSize: [0, 3] })).toThrow(/pipeline\.outputSize must be \[height, width\]/);
    expect(() => createImagePipeline({ resize: null, outputSize: [3, 3], std: [1, 0, 1] })).toThrow(/pipeline\.std must be three finite numbers > 0/);
    expect(() => createImagePipeline({ resize: null, outputSize: [3, 3], mean: [1, 2] as unknown as [number, number, number] })).toThrow(/pipeline\.mean must be three finite numbers/);
    expect(() => createImagePipeline({ resize: { mode: 'shorter', size: -2, interpolation: 'bicubic' }, outputSize: [3, 3] })).toThrow(/pipeline\.resize\.size must be an integer >= 1/);
  });
});

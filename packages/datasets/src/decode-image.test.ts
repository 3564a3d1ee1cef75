import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { CorruptImageError } from './dataset-error';
import { decodeImage, resizedSize, validateResize } from './decode-image';

const directory = mkdtempSync(join(tmpdir(), 'datasets-decode-'));
const width = 6;
const height = 4;
const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256);

async function write(name: string, image: sharp.Sharp): Promise<string> {
  const path = join(directory, name);
  await image.toFile(path);
  return path;
}

describe('decodeImage', () => {
  it('decodes a PNG to the exact RGB planes', async () => {
    const path = await write('rgb.png', sharp(rgb, { raw: { width, height, channels: 3 } }).png());
    const image = await decodeImage(path, null, { file: path });
    expect([image.width, image.height]).toEqual([width, height]);
    for (let i = 0; i < width * height; i++) {
      for (let c = 0; c < 3; c++) expect(image.data[c * width * height + i]).toBe(rgb[i * 3 + c]);
    }
  });

  it('replicates grayscale to three channels and drops alpha (PIL convert RGB)', async () => {
    const grey = Uint8Array.from({ length: width * height }, (_, i) => i * 10);
    const greyPath = await write('grey.png', sharp(grey, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png());
    expect((await sharp(greyPath).metadata()).channels).toBe(1);
    const image = await decodeImage(greyPath, null, { file: greyPath });
    for (let c = 0; c < 3; c++) expect(Array.from(image.data.subarray(c * 24, c * 24 + 24))).toEqual(Array.from(grey));
    const rgba = Uint8Array.from({ length: width * height * 4 }, (_, i) => (i % 4 === 3 ? 10 : 200));
    const alphaPath = await write('alpha.png', sharp(rgba, { raw: { width, height, channels: 4 } }).png());
    expect((await decodeImage(alphaPath, null, { file: alphaPath })).data.every((value) => value === 200)).toBe(true);
  });

  it('decodes in-memory grayscale pixels (IDX) the same way', async () => {
    const data = Uint8Array.from({ length: 4 }, (_, i) => 60 * i);
    const image = await decodeImage({ data, width: 2, height: 2, channels: 1 }, null, { file: 'images.idx', record: 3 });
    expect(Array.from(image.data)).toEqual([0, 60, 120, 180, 0, 60, 120, 180, 0, 60, 120, 180]);
  });

  it('resizes with the asked size and filter', async () => {
    const pixels = Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 97 + (i >> 5)) % 256);
    const path = await write('big.png', sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } }).png());
    const bilinear = await decodeImage(path, { mode: 'shorter', size: 12, interpolation: 'bilinear' }, { file: path });
    const bicubic = await decodeImage(path, { mode: 'shorter', size: 12, interpolation: 'bicubic' }, { file: path });
    expect([bilinear.width, bilinear.height]).toEqual([16, 12]);
    expect(bicubic.data).not.toEqual(bilinear.data);
    const exact = await decodeImage(path, { mode: 'exact', width: 9, height: 7, interpolation: 'bicubic' }, { file: path });
    expect([exact.width, exact.height]).toEqual([9, 7]);
  });

  it('computes sizes as torchvision Resize does', () => {
    const spec = { mode: 'shorter', size: 256, interpolation: 'bilinear' } as const;
    expect(resizedSize(500, 375, spec)).toEqual([341, 256]);
    expect(resizedSize(375, 500, spec)).toEqual([256, 341]);
    expect(resizedSize(256, 999, spec)).toEqual([256, 999]);
    expect(resizedSize(500, 375, { mode: 'exact', width: 224, height: 224, interpolation: 'bicubic' })).toEqual([224, 224]);
  });

  it('names the image and the line listing it when it is truncated or not an image', async () => {
    const path = await write('whole.jpg', sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg());
    const truncated = join(directory, 'truncated.jpg');
    const bytes = readFileSync(path);
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 20));
    const origin = { file: '/data/cifar/train800.txt', line: 7 };
    const error = await decodeImage(truncated, null, origin).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptImageError);
    expect((error as CorruptImageError).image).toBe(truncated);
    expect((error as Error).message).toMatch(new RegExp(`^/data/cifar/train800\\.txt:7: cannot decode image ${truncated}: .+`));
    const garbage = join(directory, 'garbage.jpg');
    writeFileSync(garbage, 'not an image');
    await expect(decodeImage(garbage, { mode: 'shorter', size: 4, interpolation: 'bilinear' }, { file: garbage })).rejects.toThrow(
      new RegExp(`^${garbage}: cannot decode image: `),
    );
  });

  it('names the field of a bad resize', () => {
    expect(() => validateResize({ mode: 'shorter', size: 0, interpolation: 'bilinear' }, 'resize')).toThrow(new ConfigError('resize.size', 0, 'must be an integer >= 1'));
    expect(() => validateResize({ mode: 'exact', width: 3, height: -1, interpolation: 'bilinear' }, 'resize')).toThrow(/resize\.height must be an integer >= 1/);
    expect(() => validateResize({ mode: 'exact', width: 3, height: 3, interpolation: 'nearest' as 'bilinear' }, 'resize')).toThrow(/resize\.interpolation must be one of bilinear, bicubic, got "nearest"/);
  });
});

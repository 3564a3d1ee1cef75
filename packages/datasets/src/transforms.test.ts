import { ConfigError, ShapeError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import type { PlanarImage } from './planar-image';
import { createPlanarImage } from './planar-image';
import { SeededRandom } from '@visual-peft/vit-core';
import { IMAGENET_MEAN, IMAGENET_STD, centerCrop, cropImage, flipImage, horizontalFlip, normalizeInto, randomCrop, roundHalfEven } from './transforms';

/** Pixel value encodes (channel, y, x), so any misplaced copy shows. */
function coded(width: number, height: number): PlanarImage {
  const image = createPlanarImage(width, height);
  for (let c = 0; c < 3; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) image.data[(c * height + y) * width + x] = c * 1000 + y * 30 + x;
  return image;
}

const at = (image: PlanarImage, c: number, y: number, x: number) => image.data[(c * image.height + y) * image.width + x];

describe('crop and flip', () => {
  it('crops the window it is given', () => {
    const out = cropImage(coded(7, 5), { left: 2, top: 1, width: 3, height: 2 });
    expect([out.width, out.height]).toEqual([3, 2]);
    expect(at(out, 2, 1, 0)).toBe(2000 + 2 * 30 + 2);
    expect(() => cropImage(coded(7, 5), { left: 5, top: 0, width: 3, height: 2 })).toThrow(ShapeError);
  });

  it('centre-crops with Python rounding of the offsets (torchvision CenterCrop)', () => {
    // (7 - 2) / 2 = 2.5 -> 2 and (5 - 2) / 2 = 1.5 -> 2: halves to even.
    const out = centerCrop(2)(coded(7, 5), new SeededRandom(0));
    expect(at(out, 0, 0, 0)).toBe(2 * 30 + 2);
    // 341 x 256 (a 4:3 image after resize 256): left round(58.5) = 58, top 16.
    const big = centerCrop(224)(coded(341, 256), new SeededRandom(0));
    expect(at(big, 0, 0, 0)).toBe(16 * 30 + 58);
    expect([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.4), roundHalfEven(2.6)]).toEqual([0, 2, 2, 3]);
  });

  it('random-crops every fitting position and only those', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 300; seed++) {
      const out = randomCrop(3)(coded(5, 4), new SeededRandom(seed));
      const value = at(out, 0, 0, 0)!;
      seen.add(value);
      expect([out.width, out.height]).toEqual([3, 3]);
    }
    // tops 0..1, lefts 0..2
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 30, 31, 32]);
    expect(() => randomCrop(6)(coded(5, 4), new SeededRandom(0))).toThrow(ShapeError);
  });

  it('flips left to right, with the asked probability', () => {
    const image = coded(4, 2);
    expect(at(flipImage(image), 1, 1, 0)).toBe(at(image, 1, 1, 3));
    expect(flipImage(flipImage(image)).data).toEqual(image.data);
    expect(horizontalFlip(0)(image, new SeededRandom(1))).toBe(image);
    expect(horizontalFlip(1)(image, new SeededRandom(1)).data).toEqual(flipImage(image).data);
    let flips = 0;
    for (let seed = 0; seed < 400; seed++) if (horizontalFlip(0.5)(image, new SeededRandom(seed)) !== image) flips++;
    expect(flips).toBeGreaterThan(160);
    expect(flips).toBeLessThan(240);
  });

  it('names the field of a bad setting', () => {
    expect(() => randomCrop(0)).toThrow(new ConfigError('randomCrop.size', 0, 'must be an integer >= 1'));
    expect(() => centerCrop(2.5)).toThrow(/centerCrop\.size must be an integer >= 1, got 2\.5/);
    expect(() => horizontalFlip(1.5)).toThrow(/horizontalFlip\.p must be a finite number in \[0, 1\], got 1\.5/);
  });
});

describe('normalizeInto', () => {
  it('writes (x / 255 - mean) / std per channel at the offset', () => {
    const image = createPlanarImage(2, 1, [255, 0, 128]);
    const out = new Float32Array(2 + 6);
    normalizeInto(image, IMAGENET_MEAN, IMAGENET_STD, out, 2);
    expect(out[0]).toBe(0);
    expect(out[2]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(out[4]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    expect(out[7]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
  });

  it('places a smaller image top-left on a larger canvas and leaves the rest', () => {
    const out = new Float32Array(3 * 3 * 3).fill(-7);
    normalizeInto(createPlanarImage(2, 2, [0, 0, 0]), [0, 0, 0], [1, 1, 1], out, 0, [3, 3]);
    expect(Array.from(out.subarray(0, 9))).toEqual([0, 0, -7, 0, 0, -7, -7, -7, -7]);
  });
});

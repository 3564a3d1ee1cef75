import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { createPlanarImage } from './planar-image';
import {
  DEFAULT_RAND_AUGMENT,
  RAND_AUGMENT_INCREASING_OPS,
  RAND_AUGMENT_OPS,
  parseRandAugment,
  randAugment,
  randAugmentArgument,
  resolveRandAugmentConfig,
  sampleMagnitude,
} from './rand-augment';
import { SeededRandom } from '@visual-peft/vit-core';

/** Both signs of a signed op's argument, over seeds. */
function signs(op: Parameters<typeof randAugmentArgument>[0], level: number): number[] {
  const values = new Set<number>();
  for (let seed = 0; seed < 40; seed++) values.add(Number(randAugmentArgument(op, level, new SeededRandom(seed)).toFixed(6)));
  return [...values].sort((a, b) => a - b);
}

describe('RandAugment rand-m9-mstd0.5-inc1 (timm auto_augment.py)', () => {
  it('uses timm\'s increasing op set of 15, and the plain one without inc1', () => {
    expect(RAND_AUGMENT_INCREASING_OPS).toEqual([
      'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing', 'SolarizeIncreasing', 'SolarizeAdd', 'ColorIncreasing',
      'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel',
    ]);
    expect(RAND_AUGMENT_OPS).toHaveLength(15);
    expect(RAND_AUGMENT_OPS).toContain('Posterize');
  });

  it('maps magnitude 9 to timm\'s arguments', () => {
    expect(signs('Rotate', 9)).toEqual([-27, 27]);
    expect(signs('ShearX', 9)).toEqual([-0.27, 0.27]);
    expect(signs('TranslateYRel', 9)).toEqual([-0.405, 0.405]);
    expect(signs('ColorIncreasing', 9)).toEqual([0.19, 1.81]);
    expect(signs('SharpnessIncreasing', 10)).toEqual([0.1, 1.9]);
    const random = new SeededRandom(0);
    expect(randAugmentArgument('PosterizeIncreasing', 9, random)).toBe(4 - 3);
    expect(randAugmentArgument('SolarizeIncreasing', 9, random)).toBe(256 - 230);
    expect(randAugmentArgument('SolarizeAdd', 9, random)).toBe(99);
    expect(randAugmentArgument('Posterize', 9, random)).toBe(3);
    expect(randAugmentArgument('Solarize', 9, random)).toBe(230);
    expect(randAugmentArgument('Contrast', 9, random)).toBeCloseTo(1.72, 12);
    expect(randAugmentArgument('PosterizeIncreasing', 0, random)).toBe(4);
  });

  it('draws each op\'s magnitude from N(9, 0.5) clipped to [0, 10]', () => {
    const random = new SeededRandom(5);
    const draws = Array.from({ length: 5000 }, () => sampleMagnitude(DEFAULT_RAND_AUGMENT, random));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(Math.abs(mean - 9)).toBeLessThan(0.03);
    const clipped = Array.from({ length: 2000 }, () => sampleMagnitude({ ...DEFAULT_RAND_AUGMENT, magnitude: 9.8, magnitudeStd: 3 }, random));
    expect(Math.max(...clipped)).toBe(10);
    expect(Math.min(...clipped)).toBeGreaterThanOrEqual(0);
    const uniform = Array.from({ length: 2000 }, () => sampleMagnitude({ ...DEFAULT_RAND_AUGMENT, magnitudeStd: Number.POSITIVE_INFINITY }, random));
    expect(Math.max(...uniform)).toBeLessThanOrEqual(9);
    expect(Math.min(...uniform)).toBeLessThan(0.1);
    expect(sampleMagnitude({ ...DEFAULT_RAND_AUGMENT, magnitudeStd: 0 }, random)).toBe(9);
  });

  it('parses timm\'s config string', () => {
    expect(parseRandAugment('rand-m9-mstd0.5-inc1')).toEqual(DEFAULT_RAND_AUGMENT);
    expect(parseRandAugment('rand-m7-n3')).toMatchObject({ magnitude: 7, numOps: 3, magnitudeStd: 0, increasing: false });
    expect(parseRandAugment('rand-mstd101').magnitudeStd).toBe(Number.POSITIVE_INFINITY);
    expect(() => parseRandAugment('rand-m9-w0')).toThrow(/randAugment has an unsupported section "w0"/);
    expect(() => parseRandAugment('original-mstd0.5')).toThrow(/randAugment must start with 'rand', got "original-mstd0\.5"/);
    expect(() => parseRandAugment('rand-mx')).toThrow(/section "mx" that is not <key><number>/);
  });

  it('applies two ops at probability 0.5 each, reproducibly per seed', () => {
    const image = createPlanarImage(8, 8, [120, 60, 30]);
    image.data[5] = 250;
    const augment = randAugment();
    const outputs = Array.from({ length: 30 }, (_, seed) => augment(image, new SeededRandom(seed)));
    expect(augment(image, new SeededRandom(3)).data).toEqual(outputs[3]!.data);
    const unchanged = outputs.filter((out) => out === image).length;
    // P(both ops skipped) = 1/4.
    expect(unchanged).toBeGreaterThan(2);
    expect(unchanged).toBeLessThan(16);
    expect(randAugment({ probability: 0 })(image, new SeededRandom(1))).toBe(image);
    expect(randAugment({ numOps: 0 })(image, new SeededRandom(1))).toBe(image);
  });

  it('names the field of a bad setting', () => {
    expect(() => resolveRandAugmentConfig({ numOps: -1 })).toThrow(new ConfigError('randAugment.numOps', -1, 'must be an integer >= 0'));
    expect(() => resolveRandAugmentConfig({ magnitude: Number.NaN })).toThrow(/randAugment\.magnitude must be a finite number >= 0/);
    expect(() => resolveRandAugmentConfig({ magnitudeStd: -1 })).toThrow(/randAugment\.magnitudeStd must be >= 0/);
    expect(() => resolveRandAugmentConfig({ magnitudeMax: 0 })).toThrow(/randAugment\.magnitudeMax must be a finite number > 0/);
    expect(() => resolveRandAugmentConfig({ probability: 2 })).toThrow(/^randAugment\.probability must be a finite number in \[0, 1\], got 2$/);
    expect(() => resolveRandAugmentConfig({ interpolation: 'nearest' as 'bicubic' })).toThrow(/^randAugment\.interpolation must be one of bilinear, bicubic, got "nearest"$/);
    expect(() => resolveRandAugmentConfig({ fill: [1, 2, 300] })).toThrow(/randAugment\.fill must be three integers in 0\.\.255/);
    expect(() => resolveRandAugmentConfig({ translateFraction: 2 })).toThrow(/^randAugment\.translateFraction must be a finite number in \[0, 1\], got 2$/);
  });
});

import { ConfigError, integer, numberInRange, oneOf, positiveNumber } from '@visual-peft/vit-core';
import type { AffineOptions } from './pil-ops';
import {
  adjustBrightness,
  adjustColor,
  adjustContrast,
  adjustSharpness,
  autoContrast,
  equalize,
  invert,
  posterize,
  rotate,
  shearX,
  shearY,
  solarize,
  solarizeAdd,
  translateX,
  translateY,
} from './pil-ops';
import type { PlanarImage } from './planar-image';
import type { SeededRandom } from '@visual-peft/vit-core';
import type { ImageStep } from './transforms';

/** timm's `_RAND_TRANSFORMS`: the ops of `rand-...` without `inc1`. */
export const RAND_AUGMENT_OPS = [
  'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize', 'SolarizeAdd', 'Color', 'Contrast', 'Brightness',
  'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel',
] as const;

/** timm's `_RAND_INCREASING_TRANSFORMS` (`inc1`): every op grows more severe with the magnitude. */
export const RAND_AUGMENT_INCREASING_OPS = [
  'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing', 'SolarizeIncreasing', 'SolarizeAdd', 'ColorIncreasing',
  'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel',
] as const;

export type RandAugmentOp = (typeof RAND_AUGMENT_OPS)[number] | (typeof RAND_AUGMENT_INCREASING_OPS)[number];

/** Magnitudes are on timm's 0..10 scale (`_LEVEL_DENOM`). */
const LEVEL_DENOMINATOR = 10;

export interface RandAugmentConfig {
  /** Ops applied per image, drawn uniformly with replacement. Default 2 (timm's `n`), SCT 2. */
  readonly numOps: number;
  /** Magnitude on the 0..10 scale. Default 9 (SCT's `m9`). */
  readonly magnitude: number;
  /**
   * Standard deviation of the per-op Gaussian noise on the magnitude; `Infinity` samples uniformly
   * in [0, magnitude]. Default 0.5 (SCT's `mstd0.5`).
   */
  readonly magnitudeStd: number;
  /** Upper clip of the noisy magnitude. Default 10 (timm's default, no `mmax`). */
  readonly magnitudeMax: number;
  /** Use the increasing-severity op set (`inc1`). Default true (SCT). */
  readonly increasing: boolean;
  /** Probability that a drawn op is applied. Default 0.5 (timm's `rand_augment_ops`). */
  readonly probability: number;
  /** Resampling of Rotate, Shear and Translate. Default 'bicubic' (timm with interpolation 'bicubic', as SCT). */
  readonly interpolation: 'bilinear' | 'bicubic';
  /** Fill of pixels moved in from outside. Default [124, 116, 104]: the ImageNet mean in 0..255, as timm. */
  readonly fill: readonly [number, number, number];
  /** Largest translation as a fraction of the side. Default 0.45 (timm's `translate_pct`). */
  readonly translateFraction: number;
}

export const DEFAULT_RAND_AUGMENT: RandAugmentConfig = {
  numOps: 2,
  magnitude: 9,
  magnitudeStd: 0.5,
  magnitudeMax: 10,
  increasing: true,
  probability: 0.5,
  interpolation: 'bicubic',
  fill: [124, 116, 104],
  translateFraction: 0.45,
};

/** Fills defaults and checks every field once. */
export function resolveRandAugmentConfig(input: Partial<RandAugmentConfig> = {}): RandAugmentConfig {
  const config = { ...DEFAULT_RAND_AUGMENT, ...input };
  integer('randAugment.numOps', config.numOps, 0);
  numberInRange('randAugment.magnitude', config.magnitude, { min: 0 });
  if (!(config.magnitudeStd >= 0)) throw new ConfigError('randAugment.magnitudeStd', config.magnitudeStd, 'must be >= 0 (Infinity for uniform sampling)');
  positiveNumber('randAugment.magnitudeMax', config.magnitudeMax);
  numberInRange('randAugment.probability', config.probability, { min: 0, max: 1 });
  oneOf('randAugment.interpolation', config.interpolation, ['bilinear', 'bicubic']);
  if (config.fill.length !== 3 || !config.fill.every((value) => Number.isInteger(value) && value >= 0 && value <= 255)) {
    throw new ConfigError('randAugment.fill', config.fill, 'must be three integers in 0..255');
  }
  numberInRange('randAugment.translateFraction', config.translateFraction, { min: 0, max: 1 });
  return config;
}

/**
 * Reads timm's config string (`rand-m9-mstd0.5-inc1`): sections `m` magnitude, `n` ops, `mstd`
 * magnitude noise (above 100 means uniform), `mmax` clip, `inc` increasing ops. `w` (weighted op
 * choice) is refused rather than ignored.
 */
export function parseRandAugment(spec: string, overrides: Partial<RandAugmentConfig> = {}): RandAugmentConfig {
  const [head, ...sections] = spec.split('-');
  if (head !== 'rand') throw new ConfigError('randAugment', spec, "must start with 'rand'");
  const parsed: { -readonly [K in keyof RandAugmentConfig]?: RandAugmentConfig[K] } = { increasing: false };
  for (const section of sections) {
    const match = /^([a-z]+)(\d.*)$/.exec(section);
    const value = match === null ? Number.NaN : Number(match[2]);
    if (match === null || Number.isNaN(value)) throw new ConfigError('randAugment', spec, `has a section ${JSON.stringify(section)} that is not <key><number>`);
    switch (match[1]) {
      case 'm':
        parsed.magnitude = value;
        break;
      case 'n':
        parsed.numOps = value;
        break;
      case 'mstd':
        parsed.magnitudeStd = value > 100 ? Number.POSITIVE_INFINITY : value;
        break;
      case 'mmax':
        parsed.magnitudeMax = value;
        break;
      case 'inc':
        parsed.increasing = value !== 0;
        break;
      default:
        throw new ConfigError('randAugment', spec, `has an unsupported section ${JSON.stringify(section)} (m, n, mstd, mmax and inc are supported)`);
    }
  }
  return resolveRandAugmentConfig({ magnitudeStd: 0, ...parsed, ...overrides });
}

function randomlyNegate(value: number, random: SeededRandom): number {
  return random.uniform() > 0.5 ? -value : value;
}

/** The op's argument at a magnitude level (timm's `LEVEL_TO_ARG`); signed ops draw their sign. */
export function randAugmentArgument(op: RandAugmentOp, level: number, random: SeededRandom, translateFraction = DEFAULT_RAND_AUGMENT.translateFraction): number {
  const fraction = level / LEVEL_DENOMINATOR;
  switch (op) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return 0;
    case 'Rotate':
      return randomlyNegate(fraction * 30, random);
    case 'Posterize':
      return Math.trunc(fraction * 4);
    case 'PosterizeIncreasing':
      return 4 - Math.trunc(fraction * 4);
    case 'Solarize':
      return Math.trunc(fraction * 256);
    case 'SolarizeIncreasing':
      return 256 - Math.trunc(fraction * 256);
    case 'SolarizeAdd':
      return Math.trunc(fraction * 110);
    case 'Color':
    case 'Contrast':
    case 'Brightness':
    case 'Sharpness':
      return fraction * 1.8 + 0.1;
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing':
      return Math.max(0.1, 1 + randomlyNegate(fraction * 0.9, random));
    case 'ShearX':
    case 'ShearY':
      return randomlyNegate(fraction * 0.3, random);
    case 'TranslateXRel':
    case 'TranslateYRel':
      return randomlyNegate(fraction * translateFraction, random);
  }
}

/** Applies one op with its argument (`randAugmentArgument`). */
export function applyRandAugmentOp(image: PlanarImage, op: RandAugmentOp, argument: number, geometry: AffineOptions): PlanarImage {
  switch (op) {
    case 'AutoContrast':
      return autoContrast(image);
    case 'Equalize':
      return equalize(image);
    case 'Invert':
      return invert(image);
    case 'Rotate':
      return rotate(image, argument, geometry);
    case 'Posterize':
    case 'PosterizeIncreasing':
      return posterize(image, argument);
    case 'Solarize':
    case 'SolarizeIncreasing':
      return solarize(image, argument);
    case 'SolarizeAdd':
      return solarizeAdd(image, argument);
    case 'Color':
    case 'ColorIncreasing':
      return adjustColor(image, argument);
    case 'Contrast':
    case 'ContrastIncreasing':
      return adjustContrast(image, argument);
    case 'Brightness':
    case 'BrightnessIncreasing':
      return adjustBrightness(image, argument);
    case 'Sharpness':
    case 'SharpnessIncreasing':
      return adjustSharpness(image, argument);
    case 'ShearX':
      return shearX(image, argument, geometry);
    case 'ShearY':
      return shearY(image, argument, geometry);
    case 'TranslateXRel':
      return translateX(image, argument, geometry);
    case 'TranslateYRel':
      return translateY(image, argument, geometry);
  }
}

/** The magnitude one op uses: the configured one with its noise, clipped to [0, magnitudeMax]. */
export function sampleMagnitude(config: RandAugmentConfig, random: SeededRandom): number {
  let magnitude = config.magnitude;
  if (config.magnitudeStd === Number.POSITIVE_INFINITY) magnitude = random.uniform(0, magnitude);
  else if (config.magnitudeStd > 0) magnitude = random.gauss(magnitude, config.magnitudeStd);
  return Math.max(0, Math.min(magnitude, config.magnitudeMax));
}

/**
 * timm's RandAugment: `numOps` ops drawn uniformly with replacement; each is applied with
 * `probability`, at a magnitude redrawn per op (`sampleMagnitude`).
 */
export function randAugment(input: Partial<RandAugmentConfig> | RandAugmentConfig = {}): ImageStep {
  const config = resolveRandAugmentConfig(input);
  const ops: readonly RandAugmentOp[] = config.increasing ? RAND_AUGMENT_INCREASING_OPS : RAND_AUGMENT_OPS;
  const geometry: AffineOptions = { interpolation: config.interpolation, fill: config.fill };
  return (image, random) => {
    let out = image;
    for (let i = 0; i < config.numOps; i++) {
      const op = ops[random.integer(0, ops.length - 1)]!;
      if (config.probability < 1 && random.uniform() > config.probability) continue;
      const argument = randAugmentArgument(op, sampleMagnitude(config, random), random, config.translateFraction);
      out = applyRandAugmentOp(out, op, argument, geometry);
    }
    return out;
  };
}

import { numberInRange } from '@visual-peft/vit-core';
import { adjustBrightness, adjustColor, adjustContrast } from './pil-ops';
import type { ImageStep } from './transforms';

export interface ColorJitterConfig {
  /** Brightness factor drawn from [max(0, 1 - b), 1 + b]. Default 0.4 (timm's `color_jitter`, SCT). */
  readonly brightness: number;
  /** Contrast factor range, as brightness. Default 0.4. */
  readonly contrast: number;
  /** Saturation factor range, as brightness. Default 0.4. */
  readonly saturation: number;
}

export const DEFAULT_COLOR_JITTER: ColorJitterConfig = { brightness: 0.4, contrast: 0.4, saturation: 0.4 };

/**
 * torchvision's `ColorJitter(b, c, s)` on PIL images, what timm builds from a scalar `color_jitter`
 * (no hue): the three factors are drawn, then applied in a random order through ImageEnhance's
 * Brightness, Contrast and Color.
 */
export function colorJitter(input: Partial<ColorJitterConfig> = {}): ImageStep {
  const config = { ...DEFAULT_COLOR_JITTER, ...input };
  for (const field of ['brightness', 'contrast', 'saturation'] as const) numberInRange(`colorJitter.${field}`, config[field], { min: 0 });
  const adjust = [adjustBrightness, adjustContrast, adjustColor] as const;
  const ranges = [config.brightness, config.contrast, config.saturation] as const;
  return (image, random) => {
    const factors = ranges.map((range) => random.uniform(Math.max(0, 1 - range), 1 + range));
    let out = image;
    for (const index of random.shuffle([0, 1, 2])) {
      if (ranges[index] === 0) continue;
      out = adjust[index]!(out, factors[index]!);
    }
    return out;
  };
}

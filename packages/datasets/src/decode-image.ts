import sharp from 'sharp';
import { integer, oneOf } from '@visual-peft/vit-core';
import type { Origin, RawPixels } from './classification-split';
import { describeImage } from './classification-split';
import { CorruptImageError } from './dataset-error';
import type { PlanarImage } from './planar-image';
import { planarFromInterleaved } from './planar-image';

/** Resampling filter of a resize: sharp's `linear` and `cubic` (Catmull-Rom, PIL's bicubic). */
export type Interpolation = 'bilinear' | 'bicubic';

/**
 * A resize done by the decoder: the shorter side to `size` keeping the aspect ratio (torchvision's
 * `Resize(int)`), or straight to `width` x `height` (`Resize((h, w))`).
 */
export type ResizeSpec =
  | { readonly mode: 'shorter'; readonly size: number; readonly interpolation: Interpolation }
  | { readonly mode: 'exact'; readonly width: number; readonly height: number; readonly interpolation: Interpolation };

/** Checks a resize once, when a pipeline is built. */
export function validateResize(resize: ResizeSpec, field: string): ResizeSpec {
  const sizes = resize.mode === 'shorter' ? { size: resize.size } : { width: resize.width, height: resize.height };
  for (const [name, value] of Object.entries(sizes)) integer(`${field}.${name}`, value, 1);
  oneOf(`${field}.interpolation`, resize.interpolation, ['bilinear', 'bicubic']);
  return resize;
}

/**
 * Output size of a resize. The shorter side follows torchvision: the long side is truncated
 * (`int(size * long / short)`), and an image whose short side already fits is left alone.
 */
export function resizedSize(width: number, height: number, resize: ResizeSpec): [number, number] {
  if (resize.mode === 'exact') return [resize.width, resize.height];
  if (width <= height) return width === resize.size ? [width, height] : [resize.size, Math.floor((resize.size * height) / width)];
  return height === resize.size ? [width, height] : [Math.floor((resize.size * width) / height), resize.size];
}

/** The sharp pipeline that reads an image file or in-memory pixels; truncated files fail. */
export function openImage(image: string | RawPixels): sharp.Sharp {
  return typeof image === 'string'
    ? sharp(image, { failOn: 'warning' })
    : sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
}

/**
 * Decodes to RGB planes on the 0..255 scale and applies the resize. Grayscale is replicated to three
 * channels and alpha dropped, as PIL's `convert('RGB')`. EXIF orientation is ignored, as PIL does.
 * Anything the decoder rejects becomes a `CorruptImageError` naming the image and where it is listed.
 */
export async function decodeImage(image: string | RawPixels, resize: ResizeSpec | null, origin: Origin): Promise<PlanarImage> {
  try {
    let pipeline = openImage(image);
    if (resize !== null) {
      const { width, height } = typeof image === 'string' ? await pipeline.metadata() : image;
      if (width === undefined || height === undefined) throw corruptImage(image, origin, 'no image size in the header');
      const [targetWidth, targetHeight] = resizedSize(width, height, resize);
      if (targetWidth !== width || targetHeight !== height) {
        pipeline = pipeline.resize(targetWidth, targetHeight, {
          fit: 'fill',
          kernel: resize.interpolation === 'bicubic' ? 'cubic' : 'linear',
          // No shrink-on-load: decoding a JPEG at a reduced DCT scale changes pixels that PIL keeps.
          fastShrinkOnLoad: false,
        });
      }
    }
    const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw corruptImage(image, origin, `decoded to ${info.channels} channels, expected 3`);
    return planarFromInterleaved(data, info.width, info.height);
  } catch (error) {
    throw corruptImage(image, origin, error);
  }
}

/** The typed error for an image the decoder rejected. */
export function corruptImage(image: string | RawPixels, origin: Origin, error: unknown): CorruptImageError {
  if (error instanceof CorruptImageError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new CorruptImageError(origin.file, describeImage(image, origin), detail, origin.line);
}

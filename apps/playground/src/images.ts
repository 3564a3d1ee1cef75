import type { ImageBatch } from '@visual-peft/vit-core';
import { ShapeError } from '@visual-peft/vit-core';

/**
 * ImageNet's per-channel mean and std on the 0..1 scale: the normalisation of every pipeline of the
 * benchmark's recipes (the demo's 'vtab' preset included), which the demo backbones were pretrained with.
 */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** An image at the backbone's input size: interleaved 0..255 values, 1 (grayscale) or 4 (RGBA) per pixel. */
export interface SizedImage {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 4;
}

/**
 * Normalised NCHW float32 pixels of images already at the backbone's size, as the demo's batches
 * hold them: grayscale replicated to RGB (as the decoder does), alpha dropped, (x / 255 - mean) / std.
 */
export function toBatch(images: readonly SizedImage[], labels: readonly number[], size: readonly [number, number]): ImageBatch {
  const [height, width] = size;
  const plane = height * width;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((image, index) => {
    if (image.width !== width || image.height !== height) throw new ShapeError(`image ${index} is ${image.width}x${image.height}, the backbone reads ${width}x${height}`);
    for (let channel = 0; channel < 3; channel++) {
      const base = (index * 3 + channel) * plane;
      const source = image.channels === 1 ? 0 : channel;
      for (let pixel = 0; pixel < plane; pixel++) {
        out[base + pixel] = (image.data[pixel * image.channels + source]! / 255 - IMAGENET_MEAN[channel]!) / IMAGENET_STD[channel]!;
      }
    }
  });
  return { images: out, labels: Int32Array.from(labels), shape: [images.length, 3, height, width] };
}

/**
 * A decoded picture (a dropped file) drawn at the backbone's size with the canvas's bilinear
 * smoothing; the demo resizes with sharp, so a picture not already at that size differs slightly.
 */
export async function resizePicture(blob: Blob, size: readonly [number, number]): Promise<SizedImage> {
  const [height, width] = size;
  const bitmap = await createImageBitmap(blob);
  try {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d')!;
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = 'medium';
    context.drawImage(bitmap, 0, 0, width, height);
    return { data: context.getImageData(0, 0, width, height).data, width, height, channels: 4 };
  } finally {
    bitmap.close();
  }
}

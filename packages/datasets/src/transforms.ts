import { ShapeError, integer, numberInRange } from '@visual-peft/vit-core';
import type { PlanarImage } from './planar-image';
import type { SeededRandom } from '@visual-peft/vit-core';

/** One augmentation or geometry step on RGB planes (0..255); draws its randomness from `random`. */
export type ImageStep = (image: PlanarImage, random: SeededRandom) => PlanarImage;

/** ImageNet channel statistics on the 0..1 scale (timm `timm/data/constants.py`; VPT `src/data/transforms.py`). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

type Planes = Float32Array | Uint8Array;

/** A `width` x `height` window at (left, top) of `channels` planes. */
export function cropPlanes<T extends Planes>(data: T, channels: number, width: number, height: number, box: CropBox): T {
  const out = new (data.constructor as new (length: number) => T)(channels * box.width * box.height);
  for (let channel = 0; channel < channels; channel++) {
    for (let y = 0; y < box.height; y++) {
      const from = channel * width * height + (box.top + y) * width + box.left;
      out.set(data.subarray(from, from + box.width), channel * box.width * box.height + y * box.width);
    }
  }
  return out;
}

/** Mirrors `channels` planes left to right. */
export function flipPlanes<T extends Planes>(data: T, channels: number, width: number, height: number): T {
  const out = new (data.constructor as new (length: number) => T)(data.length);
  for (let row = 0; row < channels * height; row++) {
    const offset = row * width;
    for (let x = 0; x < width; x++) out[offset + x] = data[offset + width - 1 - x]!;
  }
  return out;
}

export interface CropBox {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export function cropImage(image: PlanarImage, box: CropBox): PlanarImage {
  if (box.left < 0 || box.top < 0 || box.left + box.width > image.width || box.top + box.height > image.height) {
    throw new ShapeError(`crop ${box.width}x${box.height} at (${box.left}, ${box.top}) does not fit a ${image.width}x${image.height} image`);
  }
  return { width: box.width, height: box.height, data: cropPlanes(image.data, 3, image.width, image.height, box) };
}

export function flipImage(image: PlanarImage): PlanarImage {
  return { width: image.width, height: image.height, data: flipPlanes(image.data, 3, image.width, image.height) };
}

/** torchvision's `RandomCrop(size)`: top and left uniform over every position that fits. */
export function randomCrop(size: number): ImageStep {
  integer('randomCrop.size', size, 1);
  return (image, random) => {
    const top = random.integer(0, image.height - size);
    const left = random.integer(0, image.width - size);
    return cropImage(image, { left, top, width: size, height: size });
  };
}

/** torchvision's `CenterCrop(size)`: offsets `round((side - size) / 2)`, rounding half to even as Python. */
export function centerCrop(size: number): ImageStep {
  integer('centerCrop.size', size, 1);
  return (image) => cropImage(image, { left: roundHalfEven((image.width - size) / 2), top: roundHalfEven((image.height - size) / 2), width: size, height: size });
}

/** torchvision's `RandomHorizontalFlip(p)`. */
export function horizontalFlip(p = 0.5): ImageStep {
  numberInRange('horizontalFlip.p', p, { min: 0, max: 1 });
  return (image, random) => (random.chance(p) ? flipImage(image) : image);
}

/** Python's `round`: halves go to the even neighbour. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Writes `(pixel / 255 - mean) / std` per channel into `out` at `offset` (ToTensor + Normalize):
 * the NCHW float32 layout the backbone reads. With a larger `canvas` [height, width] the image lands
 * in its top-left corner and the rest is left as it is (mmseg pads after normalising).
 */
export function normalizeInto(
  image: PlanarImage,
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  offset: number,
  canvas: readonly [number, number] = [image.height, image.width],
): void {
  const [canvasHeight, canvasWidth] = canvas;
  const plane = image.width * image.height;
  for (let channel = 0; channel < 3; channel++) {
    const scale = 1 / (255 * std[channel]!);
    const shift = mean[channel]! / std[channel]!;
    for (let y = 0; y < image.height; y++) {
      const from = channel * plane + y * image.width;
      const to = offset + channel * canvasHeight * canvasWidth + y * canvasWidth;
      for (let x = 0; x < image.width; x++) out[to + x] = image.data[from + x]! * scale - shift;
    }
  }
}


import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { maxDifference, useTinySetrPup, values } from './__fixtures__/tiny-backbone';
import { resizeBilinear } from './resize-bilinear';
import { inferSegmentation, predictLabels, slidingWindows } from './segmentation-inference';

describe('slidingWindows (mmseg slide mode)', () => {
  it('clamps the last window of each axis to the image: 48x40 with crop 32 and stride 21', () => {
    // Rows: ceil((48 - 32) / 21) + 1 = 2 windows at 0 and 21 -> 48 - 32 = 16. Columns: 2 at 0 and 21 -> 40 - 32 = 8.
    expect(slidingWindows(48, 40, [32, 32], [21, 21])).toEqual([
      { top: 0, left: 0, height: 32, width: 32 },
      { top: 0, left: 8, height: 32, width: 32 },
      { top: 16, left: 0, height: 32, width: 32 },
      { top: 16, left: 8, height: 32, width: 32 },
    ]);
  });

  it('gives ADE20K’s typical 512x683 image two windows of 512 with stride 341', () => {
    expect(slidingWindows(512, 683, [512, 512], [341, 341])).toEqual([
      { top: 0, left: 0, height: 512, width: 512 },
      { top: 0, left: 171, height: 512, width: 512 },
    ]);
    // 1024 wide: windows at 0, 341 and 1024 - 512 = 512.
    expect(slidingWindows(512, 1024, [512, 512], [341, 341]).map((window) => window.left)).toEqual([0, 341, 512]);
  });

  it('gives one window the image’s size on an axis shorter than the crop, and one window when it fits exactly', () => {
    expect(slidingWindows(20, 40, [32, 32], [21, 21])).toEqual([
      { top: 0, left: 0, height: 20, width: 32 },
      { top: 0, left: 8, height: 20, width: 32 },
    ]);
    expect(slidingWindows(32, 32, [32, 32], [21, 21])).toEqual([{ top: 0, left: 0, height: 32, width: 32 }]);
  });
});

describe('inferSegmentation', () => {
  const tiny = useTinySetrPup({ numClasses: 3, decodeHead: { channels: 4 }, auxiliaryIndices: [] });

  /** Decode logits of one 32x32 crop, resized to the crop (mmseg's encode_decode), as nested [b][y][x][class]. */
  function cropLogits(images: tf.Tensor4D, top: number, left: number, height: number, width: number): number[][][][] {
    return tf.tidy(() => {
      let crop = tf.slice(images, [0, 0, top, left], [-1, -1, height, width]);
      crop = tf.pad(crop, [[0, 0], [0, 0], [0, 32 - height], [0, 32 - width]]);
      return resizeBilinear(tiny.model.forward(crop as tf.Tensor4D), [32, 32]).arraySync();
    });
  }

  /** Sums each window's logits into a [B, H, W, C] host array and divides by the windows covering each pixel. */
  function manualSlide(images: tf.Tensor4D, windows: readonly [number, number, number, number][]): number[] {
    const [batch, , height, width] = images.shape;
    const sum = new Float64Array(batch * height * width * 3);
    const count = new Float64Array(height * width);
    for (const [top, left, windowHeight, windowWidth] of windows) {
      const logits = cropLogits(images, top, left, windowHeight, windowWidth);
      for (let y = 0; y < windowHeight; y++) {
        for (let x = 0; x < windowWidth; x++) {
          count[(top + y) * width + left + x]! += 1;
          for (let b = 0; b < batch; b++) for (let c = 0; c < 3; c++) sum[((b * height + top + y) * width + left + x) * 3 + c]! += logits[b]![y]![x]![c]!;
        }
      }
    }
    return Array.from(sum, (value, index) => value / count[Math.floor(index / 3) % (height * width)]!);
  }

  it('averages overlapping windows as mmseg, and zero-pads windows cut short by an image smaller than the crop', () => {
    const cases: { shape: [number, number, number, number]; windows: [number, number, number, number][] }[] = [
      // 48x40, crop 32, stride 21: two windows per axis, the second moved back inside.
      { shape: [2, 3, 48, 40], windows: [[0, 0, 32, 32], [0, 8, 32, 32], [16, 0, 32, 32], [16, 8, 32, 32]] },
      // 20 rows < 32: one window of 20 rows per column position, padded to 32 and cut back.
      { shape: [1, 3, 20, 40], windows: [[0, 0, 20, 32], [0, 8, 20, 32]] },
    ];
    for (const [index, { shape, windows }] of cases.entries()) {
      const images = tf.randomNormal(shape, 0, 1, 'float32', 4 + index) as tf.Tensor4D;
      const logits = inferSegmentation(tiny.model, images, { stride: [21, 21] });
      expect(logits.shape).toEqual([shape[0], shape[2], shape[3], 3]);
      expect(maxDifference(values(logits), manualSlide(images, windows))).toBeLessThan(1e-5);
      tf.dispose([images, logits]);
    }
  });

  it('runs whole images in one pass, the same as a single window', () => {
    const images = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 6) as tf.Tensor4D;
    const whole = inferSegmentation(tiny.model, images, { mode: 'whole' });
    const slide = inferSegmentation(tiny.model, images, { stride: 21 });
    const direct = tf.tidy(() => resizeBilinear(tiny.model.forward(images), [32, 32]));
    expect(whole.shape).toEqual([2, 32, 32, 3]);
    expect(values(whole)).toEqual(values(direct));
    expect(maxDifference(values(slide), values(whole))).toBeLessThan(1e-6);
    tf.dispose([images, whole, slide, direct]);
  });

  it('refuses a stride wider than the crop, unknown modes, and whole images of another size than the backbone’s', () => {
    const images = tf.zeros([1, 3, 48, 40]) as tf.Tensor4D;
    expect(() => inferSegmentation(tiny.model, images)).toThrow(/^stride must not exceed the crop \[32, 32\] \(the backbone's imgSize\), got 341$/);
    expect(() => inferSegmentation(tiny.model, images, { stride: [21, 0] })).toThrow(/^stride must be an integer >= 1 or a pair of them/);
    expect(() => inferSegmentation(tiny.model, images, { mode: 'tiles' as never })).toThrow(/^mode must be one of whole, slide, got "tiles"$/);
    expect(() => inferSegmentation(tiny.model, images, { mode: 'whole' })).toThrow(ShapeError);
    expect(() => inferSegmentation(tiny.model, images, { mode: 'whole', stride: 21 })).toThrow(/^stride applies to mode 'slide' only, got 21$/);
    expect(() => inferSegmentation(tiny.model, images, { crop: 32 } as never)).toThrow(/^inferSegmentation.crop is not an option \(options: mode, stride\), got 32$/);
    const flat = tf.zeros([3, 48, 40]);
    expect(() => inferSegmentation(tiny.model, flat as tf.Tensor4D)).toThrow(/^images must be NCHW \[batch, channels, height, width\], got \[3, 48, 40\]$/);
    tf.dispose([images, flat]);
  });
});

describe('predictLabels', () => {
  it('takes the argmax of the logits resized to the labels’ size, band by band', () => {
    const before = tf.memory().numTensors;
    const logits = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 7) as tf.Tensor4D;
    const expected = tf.tidy(() => values(tf.argMax(resizeBilinear(logits, [7, 9]), -1)));
    // 2 images x 9 columns x 5 classes = 90 values a row: bands of 2 rows.
    expect(Array.from(predictLabels(logits, [7, 9], 180))).toEqual(expected);
    expect(Array.from(predictLabels(logits, [7, 9]))).toEqual(expected);
    expect(() => predictLabels(logits, [7, 0])).toThrow(/^size must be an integer >= 1 or a pair of them/);
    expect(() => predictLabels(logits, [7, 9], 0)).toThrow(/^bandValues must be an integer >= 1, got 0$/);
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

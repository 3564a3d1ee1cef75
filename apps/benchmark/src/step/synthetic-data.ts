import type { BatchSource, ImageBatch } from '@visual-peft/vit-core';
import { SeededRandom } from '@visual-peft/vit-core';

/** One batch of uniform(-1, 1) images and cycling labels: time and memory do not depend on the values. */
export function syntheticBatch(shape: [number, number, number, number], numClasses: number): ImageBatch {
  const random = new SeededRandom(1);
  const images = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => random.uniform(-1, 1));
  return { images, labels: Int32Array.from({ length: shape[0] }, (_, i) => i % numClasses), shape };
}

/** A source whose every epoch is that one batch. */
export function syntheticSource(batch: ImageBatch): BatchSource {
  return async function* () {
    yield batch;
  };
}

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_FILES, serializeIdx } from '@visual-peft/datasets';
import { SeededRandom } from '@visual-peft/vit-core';

/**
 * A stand-in for Fashion-MNIST in its release format (plain IDX): random 28x28 images in shuffled
 * order, `perClass[split]` = [images of each class 0-4, images of each class 5-9].
 */
export function writeSyntheticFashionMnist(dir: string, perClass: Record<'train' | 'test', readonly [number, number]>, seed = 11): void {
  mkdirSync(dir, { recursive: true });
  const random = new SeededRandom(seed);
  for (const split of ['train', 'test'] as const) {
    const [pretrain, unseen] = perClass[split];
    const labels = Array.from({ length: 10 }, (_, label) => new Array<number>(label < 5 ? pretrain : unseen).fill(label)).flat();
    random.shuffle(labels);
    const images = Uint8Array.from({ length: labels.length * 784 }, () => random.integer(0, 255));
    writeFileSync(join(dir, FASHION_MNIST_FILES[split].images), serializeIdx([labels.length, 28, 28], images));
    writeFileSync(join(dir, FASHION_MNIST_FILES[split].labels), serializeIdx([labels.length], Uint8Array.from(labels)));
  }
}

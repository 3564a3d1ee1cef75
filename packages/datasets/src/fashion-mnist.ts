import { oneOf } from '@visual-peft/vit-core';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClassificationSplit, ImageExample } from './classification-split';
import { DatasetError } from './dataset-error';
import { parseIdx } from './idx';
import type { DatasetLoadOptions } from './read-split-file';
import { resolveLoadOptions } from './read-split-file';

/** Label order of Fashion-MNIST. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

/** File stems of the release (each may also be `.gz`): 60,000 training and 10,000 test images. */
export const FASHION_MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

export type FashionMnistSplit = keyof typeof FASHION_MNIST_FILES;

/** Debian's `dataset-fashion-mnist` package puts the four `.gz` files here. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

async function readIdxFile(root: string, stem: string): Promise<{ file: string; bytes: Uint8Array } | DatasetError> {
  for (const name of [stem, `${stem}.gz`]) {
    const file = join(root, name);
    if (existsSync(file)) return { file, bytes: new Uint8Array(await readFile(file)) };
  }
  return new DatasetError(join(root, `${stem}(.gz)`), 'missing IDX file');
}

/**
 * One split of Fashion-MNIST from its IDX files (plain or `.gz`) in `root`. Images stay in memory as
 * 28x28 grayscale; the decoder replicates them to RGB and resizes them like any image.
 */
export async function loadFashionMnist(root: string, split: FashionMnistSplit, options?: DatasetLoadOptions): Promise<ClassificationSplit> {
  oneOf('split', split, Object.keys(FASHION_MNIST_FILES));
  const { onProblem } = resolveLoadOptions(options);
  const numClasses = FASHION_MNIST_CLASSES.length;
  const result = { dataset: 'fashion-mnist', split, numClasses, classNames: FASHION_MNIST_CLASSES, examples: [] as ImageExample[] };
  const imageFile = await readIdxFile(root, FASHION_MNIST_FILES[split].images);
  const labelFile = await readIdxFile(root, FASHION_MNIST_FILES[split].labels);
  if (imageFile instanceof DatasetError || labelFile instanceof DatasetError) {
    for (const file of [imageFile, labelFile]) if (file instanceof DatasetError) onProblem(file);
    return result;
  }
  let images;
  let labels;
  try {
    images = parseIdx(imageFile.bytes, imageFile.file);
    labels = parseIdx(labelFile.bytes, labelFile.file);
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    onProblem(error);
    return result;
  }
  const [count = 0, height = 0, width = 0] = images.dims;
  if (images.dims.length !== 3) {
    onProblem(new DatasetError(imageFile.file, `expected images [count, rows, columns], got [${images.dims.join(', ')}]`));
    return result;
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    onProblem(new DatasetError(labelFile.file, `expected ${count} labels (one per image in ${imageFile.file}), got [${labels.dims.join(', ')}]`));
    return result;
  }
  const plane = height * width;
  for (let record = 0; record < count; record++) {
    const label = labels.data[record]!;
    if (label >= numClasses) {
      onProblem(new DatasetError(labelFile.file, `label ${label} of record ${record} is outside 0..${numClasses - 1}`));
      continue;
    }
    const data = images.data.subarray(record * plane, (record + 1) * plane);
    result.examples.push({ image: { data, width, height, channels: 1 }, label, origin: { file: imageFile.file, record } });
  }
  return result;
}

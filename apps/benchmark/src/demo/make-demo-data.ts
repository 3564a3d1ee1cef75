import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ClassificationSplit, FashionMnistSplit } from '@visual-peft/datasets';
import { FASHION_MNIST_FILES, loadFashionMnist, serializeIdx } from '@visual-peft/datasets';
import { ConfigError, SeededRandom, deriveSeed, writeFileAtomic } from '@visual-peft/vit-core';
import { PRETRAIN_CLASSES, UNSEEN_CLASSES } from './demo-tasks';

/** Images per class drawn into each split of the committed subset. */
export interface DemoDataCounts {
  /** Training images per pretraining class (0-4). */
  readonly pretrainTrain: number;
  /** Test images per pretraining class: the supervised pretraining's validation. */
  readonly pretrainTest: number;
  /** Training images per unseen class (5-9): 200 x 5 = the 1000 of train800 + val200. */
  readonly unseenTrain: number;
  /** Test images per unseen class: 200 x 5 = a test set of 1000 per task. */
  readonly unseenTest: number;
}

/** The committed subset: about 3.4 MB of gzipped IDX. */
export const DEMO_DATA_COUNTS: DemoDataCounts = { pretrainTrain: 1000, pretrainTest: 100, unseenTrain: 200, unseenTest: 200 };

export interface DemoDataSummary {
  readonly seed: number;
  readonly counts: DemoDataCounts;
  /** Images written per split. */
  readonly train: number;
  readonly test: number;
  /** Bytes of the four files together. */
  readonly bytes: number;
}

/**
 * Draws `count` examples of each class, seeded per (seed, split, class), kept in the release's order:
 * the same source and seed always give the same files.
 */
function drawPerClass(split: ClassificationSplit, counts: ReadonlyMap<number, number>, seed: number, splitIndex: number): number[] {
  const byClass = new Map<number, number[]>([...counts.keys()].map((label) => [label, []]));
  split.examples.forEach((example, index) => byClass.get(example.label)?.push(index));
  const picked: number[] = [];
  for (const [label, count] of counts) {
    const indices = byClass.get(label)!;
    if (indices.length < count) {
      throw new ConfigError(`${split.split} images of class ${label}`, indices.length, `must be at least the ${count} the demo subset draws`);
    }
    picked.push(...new SeededRandom(deriveSeed(seed, splitIndex, label)).shuffle(indices).slice(0, count));
  }
  return picked.sort((a, b) => a - b);
}

async function writeIdxSplit(out: string, split: ClassificationSplit, name: FashionMnistSplit, indices: readonly number[]): Promise<number> {
  const [height, width] = [28, 28];
  const images = new Uint8Array(indices.length * height * width);
  const labels = new Uint8Array(indices.length);
  indices.forEach((index, position) => {
    const example = split.examples[index]!;
    const image = example.image;
    if (typeof image === 'string' || image.width !== width || image.height !== height || image.channels !== 1) {
      throw new ConfigError(`${name} record ${index}`, typeof image === 'string' ? image : [image.height, image.width, image.channels], 'must be a 28x28 grayscale Fashion-MNIST image');
    }
    images.set(image.data, position * height * width);
    labels[position] = example.label;
  });
  // gzip as the release ships it; Node writes no timestamp in the header, so the bytes are reproducible.
  const files: [string, Uint8Array][] = [
    [`${FASHION_MNIST_FILES[name].images}.gz`, gzipSync(serializeIdx([indices.length, height, width], images), { level: 9 })],
    [`${FASHION_MNIST_FILES[name].labels}.gz`, gzipSync(serializeIdx([indices.length], labels), { level: 9 })],
  ];
  let bytes = 0;
  for (const [file, data] of files) {
    await writeFileAtomic(join(out, file), data);
    bytes += data.length;
  }
  return bytes;
}

/**
 * Writes the demo's Fashion-MNIST subset into `out` from the full release in `from`, in the
 * release's own format (gzipped IDX under the same names), so `loadFashionMnist` reads either.
 */
export async function makeDemoData(from: string, out: string, seed = 0, counts: DemoDataCounts = DEMO_DATA_COUNTS): Promise<DemoDataSummary> {
  for (const [field, value] of Object.entries(counts)) {
    if (!Number.isInteger(value) || value < 0) throw new ConfigError(`counts.${field}`, value, 'must be a non-negative integer');
  }
  const perClass = (pretrain: number, unseen: number) =>
    new Map([...PRETRAIN_CLASSES.map((label) => [label, pretrain] as const), ...UNSEEN_CLASSES.map((label) => [label, unseen] as const)]);
  const train = await loadFashionMnist(from, 'train');
  const test = await loadFashionMnist(from, 'test');
  const trainPick = drawPerClass(train, perClass(counts.pretrainTrain, counts.unseenTrain), seed, 0);
  const testPick = drawPerClass(test, perClass(counts.pretrainTest, counts.unseenTest), seed, 1);
  await mkdir(out, { recursive: true });
  const bytes = (await writeIdxSplit(out, train, 'train', trainPick)) + (await writeIdxSplit(out, test, 'test', testPick));
  return { seed, counts, train: trainPick.length, test: testPick.length, bytes };
}

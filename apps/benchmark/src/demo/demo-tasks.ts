import type { ClassificationSplit, ImageExample, RawPixels, Vtab1kSplits } from '@visual-peft/datasets';
import { FASHION_MNIST_CLASSES, buildVtab1kSplits, loadFashionMnist } from '@visual-peft/datasets';
import { ConfigError, SeededRandom, deriveSeed } from '@visual-peft/vit-core';
import { DEMO_DATA_DIR } from '../demo-assets';

/** Fashion-MNIST classes the demo backbones are pretrained on (T-shirt/top, Trouser, Pullover, Dress, Coat). */
export const PRETRAIN_CLASSES = [0, 1, 2, 3, 4] as const;
/** Classes pretraining never sees (Sandal, Shirt, Sneaker, Bag, Ankle boot): the downstream tasks' images. */
export const UNSEEN_CLASSES = [5, 6, 7, 8, 9] as const;

/**
 * The demo's VTAB-1k-style tasks: 'fmnist-unseen' classifies the five unseen classes (natural);
 * 'fmnist-rotation' predicts by how many quarter turns an unseen-class image was rotated (structured).
 */
export const DEMO_TASKS = ['fmnist-unseen', 'fmnist-rotation'] as const;
export type DemoTask = (typeof DEMO_TASKS)[number];

export function isDemoTask(name: string): name is DemoTask {
  return (DEMO_TASKS as readonly string[]).includes(name);
}

/** Counter-clockwise rotations of the rotation task, in label order. */
export const ROTATION_CLASSES = ['0 degrees', '90 degrees', '180 degrees', '270 degrees'] as const;

export interface DemoTaskOptions {
  /** Fashion-MNIST IDX files (plain or .gz): the committed subset by default, or the full release. */
  readonly root?: string;
  /** Seed of the draws (train800 / val200, test subset, rotations). Default 0. */
  readonly seed?: number;
  /** Images in each task's test split, drawn from the unseen classes' test images. Default 1000. */
  readonly testSize?: number;
}

function classSubset(split: ClassificationSplit, classes: readonly number[]): ClassificationSplit {
  const relabel = new Map(classes.map((label, index) => [label, index]));
  const examples: ImageExample[] = [];
  for (const example of split.examples) {
    const label = relabel.get(example.label);
    if (label !== undefined) examples.push({ ...example, label });
  }
  return { ...split, numClasses: classes.length, classNames: classes.map((label) => FASHION_MNIST_CLASSES[label]!), examples };
}

/** The pretraining images: Fashion-MNIST's classes 0-4 (labels unchanged), training and test sets. */
export async function loadPretrainData(root: string = DEMO_DATA_DIR): Promise<{ train: ClassificationSplit; test: ClassificationSplit }> {
  const [train, test] = await Promise.all([loadFashionMnist(root, 'train'), loadFashionMnist(root, 'test')]);
  return { train: { ...classSubset(train, PRETRAIN_CLASSES), dataset: 'fmnist-pretrain' }, test: { ...classSubset(test, PRETRAIN_CLASSES), dataset: 'fmnist-pretrain' } };
}

/** Grayscale pixels turned by `turns` quarter turns counter-clockwise (numpy's rot90 on a [rows, columns] array). */
export function rotateQuarterTurns(image: RawPixels, turns: number): RawPixels {
  if (!Number.isInteger(turns) || turns < 0 || turns > 3) throw new ConfigError('turns', turns, 'must be 0, 1, 2 or 3');
  const { width, height, channels } = image;
  if (channels !== 1) throw new ConfigError('channels', channels, 'must be 1 (the rotation task turns grayscale images)');
  if (turns === 0) return image;
  const odd = turns % 2 === 1;
  const outWidth = odd ? height : width;
  const outHeight = odd ? width : height;
  const data = new Uint8Array(width * height);
  for (let row = 0; row < outHeight; row++) {
    for (let column = 0; column < outWidth; column++) {
      // The source pixel that lands at (row, column).
      const [sourceRow, sourceColumn] =
        turns === 1 ? [column, width - 1 - row] : turns === 2 ? [height - 1 - row, width - 1 - column] : [height - 1 - column, row];
      data[row * outWidth + column] = image.data[sourceRow * width + sourceColumn]!;
    }
  }
  return { data, width: outWidth, height: outHeight, channels: 1 };
}

/**
 * Each example rotated by a quarter-turn count that is its label: the counts are dealt out in equal
 * shares (ranks in a seeded order, modulo 4), so the classes are balanced.
 */
function rotationTask(split: ClassificationSplit, seed: number): ClassificationSplit {
  const order = new SeededRandom(seed).permutation(split.examples.length);
  const turns = new Int32Array(split.examples.length);
  order.forEach((index, rank) => (turns[index] = rank % ROTATION_CLASSES.length));
  const examples = split.examples.map((example, index) => {
    if (typeof example.image === 'string') throw new ConfigError('image', example.image, 'must be pixels in memory (IDX)');
    return { ...example, image: rotateQuarterTurns(example.image, turns[index]!), label: turns[index]! };
  });
  return { ...split, dataset: 'fmnist-rotation', numClasses: ROTATION_CLASSES.length, classNames: ROTATION_CLASSES, examples };
}

/** `count` examples in a seeded draw, kept in the split's order. */
function drawExamples(split: ClassificationSplit, count: number, seed: number): ClassificationSplit {
  if (split.examples.length < count) {
    throw new ConfigError('testSize', count, `must not exceed the ${split.examples.length} unseen-class test images in ${split.examples[0]?.origin.file ?? 'the data'}`);
  }
  const picked = [...new SeededRandom(seed).permutation(split.examples.length).subarray(0, count)].sort((a, b) => a - b);
  return { ...split, examples: picked.map((index) => split.examples[index]!) };
}

/**
 * One demo task's splits (train800, val200, train800val200, test) from the unseen classes'
 * images, deterministic in the seed. train800 and val200 are disjoint draws from the training set.
 */
export async function loadDemoTask(task: DemoTask, options: DemoTaskOptions = {}): Promise<Vtab1kSplits> {
  if (!isDemoTask(task)) throw new ConfigError('task', task, `must be one of ${DEMO_TASKS.join(', ')}`);
  const root = options.root ?? DEMO_DATA_DIR;
  const seed = options.seed ?? 0;
  const testSize = options.testSize ?? 1000;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ConfigError('seed', seed, 'must be a non-negative integer');
  if (!Number.isInteger(testSize) || testSize < 1) throw new ConfigError('testSize', testSize, 'must be a positive integer');
  const taskIndex = DEMO_TASKS.indexOf(task);
  const [train, test] = await Promise.all([loadFashionMnist(root, 'train'), loadFashionMnist(root, 'test')]);
  const unseenTrain = { ...classSubset(train, UNSEEN_CLASSES), dataset: task };
  const unseenTest = { ...drawExamples(classSubset(test, UNSEEN_CLASSES), testSize, deriveSeed(seed, taskIndex, 1)), dataset: task };
  const splits = buildVtab1kSplits(unseenTrain, unseenTest, { seed: deriveSeed(seed, taskIndex, 0) });
  if (task === 'fmnist-unseen') return splits;
  // Rotations are dealt over train800val200, so an image keeps its rotation in train800 or val200.
  const rotatedTrain = rotationTask(splits.train800val200, deriveSeed(seed, taskIndex, 2));
  const rotated = new Map(splits.train800val200.examples.map((example, index) => [example, rotatedTrain.examples[index]!]));
  const pick = (split: ClassificationSplit): ClassificationSplit => ({ ...rotatedTrain, split: split.split, examples: split.examples.map((example) => rotated.get(example)!) });
  return {
    train800: pick(splits.train800),
    val200: pick(splits.val200),
    train800val200: rotatedTrain,
    test: { ...rotationTask(splits.test, deriveSeed(seed, taskIndex, 3)), split: 'test' },
  };
}

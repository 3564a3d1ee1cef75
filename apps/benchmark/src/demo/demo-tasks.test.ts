import type { ClassificationSplit, RawPixels } from '@visual-peft/datasets';
import { loadFashionMnist } from '@visual-peft/datasets';
import { ConfigError } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DATA_DIR } from '../demo-assets';
import { DEMO_TASKS, PRETRAIN_CLASSES, UNSEEN_CLASSES, loadDemoTask, loadPretrainData, rotateQuarterTurns } from './demo-tasks';

const records = (split: ClassificationSplit) => split.examples.map((example) => example.origin.record!);
const pixels = (split: ClassificationSplit, index: number) => split.examples[index]!.image as RawPixels;

let original: { train: ClassificationSplit; test: ClassificationSplit };
beforeAll(async () => {
  original = { train: await loadFashionMnist(DEMO_DATA_DIR, 'train'), test: await loadFashionMnist(DEMO_DATA_DIR, 'test') };
});

describe('rotateQuarterTurns', () => {
  const image: RawPixels = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
  it('turns counter-clockwise like numpy.rot90', () => {
    // [[1, 2, 3], [4, 5, 6]] -> rot90: [[3, 6], [2, 5], [1, 4]]; twice: [[6, 5, 4], [3, 2, 1]]; three times: [[4, 1], [5, 2], [6, 3]].
    expect(rotateQuarterTurns(image, 1)).toEqual({ data: Uint8Array.from([3, 6, 2, 5, 1, 4]), width: 2, height: 3, channels: 1 });
    expect(rotateQuarterTurns(image, 2)).toEqual({ data: Uint8Array.from([6, 5, 4, 3, 2, 1]), width: 3, height: 2, channels: 1 });
    expect(rotateQuarterTurns(image, 3)).toEqual({ data: Uint8Array.from([4, 1, 5, 2, 6, 3]), width: 2, height: 3, channels: 1 });
    expect(rotateQuarterTurns(image, 0)).toBe(image);
    expect(rotateQuarterTurns(rotateQuarterTurns(image, 1), 3)).toEqual(image);
  });
  it('names the field of bad input', () => {
    expect(() => rotateQuarterTurns(image, 4)).toThrow(new ConfigError('turns', 4, 'must be 0, 1, 2 or 3'));
  });
});

describe('the committed Fashion-MNIST subset', () => {
  it('holds 1000 training images per pretraining class and 200 per unseen class; 100 and 200 test images', () => {
    const count = (split: ClassificationSplit, label: number) => split.examples.filter((example) => example.label === label).length;
    for (const label of PRETRAIN_CLASSES) expect([count(original.train, label), count(original.test, label)]).toEqual([1000, 100]);
    for (const label of UNSEEN_CLASSES) expect([count(original.train, label), count(original.test, label)]).toEqual([200, 200]);
  });

  it('gives pretraining classes 0-4 only', async () => {
    const data = await loadPretrainData();
    expect(data.train.examples).toHaveLength(5000);
    expect(data.test.examples).toHaveLength(500);
    expect(data.train.classNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat']);
    expect(new Set(data.train.examples.map((example) => example.label))).toEqual(new Set(PRETRAIN_CLASSES));
  });
});

describe.each(DEMO_TASKS)('demo task %s', (task) => {
  it('has VTAB-1k splits: disjoint train800 and val200 from the unseen classes, their union, a test set of 1000', async () => {
    const splits = await loadDemoTask(task);
    expect([splits.train800, splits.val200, splits.train800val200, splits.test].map((split) => [split.split, split.examples.length])).toEqual([
      ['train800', 800],
      ['val200', 200],
      ['train800val200', 1000],
      ['test', 1000],
    ]);
    const train = new Set(records(splits.train800));
    expect(records(splits.val200).filter((record) => train.has(record))).toEqual([]);
    expect(records(splits.train800val200)).toEqual([...records(splits.train800), ...records(splits.val200)]);
    for (const [split, source] of [[splits.train800val200, original.train], [splits.test, original.test]] as const) {
      expect(split.dataset).toBe(task);
      for (const example of split.examples) {
        expect(UNSEEN_CLASSES).toContain(source.examples[example.origin.record!]!.label);
        expect(example.label).toBeGreaterThanOrEqual(0);
        expect(example.label).toBeLessThan(split.numClasses);
      }
    }
  });

  it('is deterministic in the seed', async () => {
    const [a, b, other] = await Promise.all([loadDemoTask(task), loadDemoTask(task), loadDemoTask(task, { seed: 1 })]);
    expect(records(b.train800)).toEqual(records(a.train800));
    expect(b.train800.examples.map((example) => example.label)).toEqual(a.train800.examples.map((example) => example.label));
    expect(b.test.examples.map((example) => example.image)).toEqual(a.test.examples.map((example) => example.image));
    expect(records(other.train800)).not.toEqual(records(a.train800));
  });
});

describe('fmnist-unseen', () => {
  it('labels the unseen classes 0-4 in order (Sandal ... Ankle boot) and keeps the pixels', async () => {
    const splits = await loadDemoTask('fmnist-unseen');
    expect(splits.train800.numClasses).toBe(5);
    expect(splits.train800.classNames).toEqual(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    for (const example of splits.train800.examples) {
      const source = original.train.examples[example.origin.record!]!;
      expect(example.label).toBe(source.label - 5);
      expect(example.image).toEqual(source.image);
    }
    const labels = new Set(splits.test.examples.map((example) => example.label));
    expect(labels).toEqual(new Set([0, 1, 2, 3, 4]));
  });
});

describe('fmnist-rotation', () => {
  it('holds real rotations of unseen-class images, the label being the quarter turns, in equal shares', async () => {
    const splits = await loadDemoTask('fmnist-rotation');
    expect(splits.train800.classNames).toEqual(['0 degrees', '90 degrees', '180 degrees', '270 degrees']);
    for (const [split, source] of [[splits.train800val200, original.train], [splits.test, original.test]] as const) {
      split.examples.forEach((example, index) => {
        const unrotated = source.examples[example.origin.record!]!.image as RawPixels;
        expect(pixels(split, index)).toEqual(rotateQuarterTurns(unrotated, example.label));
      });
      const shares = [0, 1, 2, 3].map((label) => split.examples.filter((example) => example.label === label).length);
      expect(shares).toEqual([250, 250, 250, 250]);
    }
    // An image keeps its rotation in train800 and in train800val200.
    const inUnion = new Map(splits.train800val200.examples.map((example) => [example.origin.record, example.label]));
    for (const example of splits.val200.examples) expect(example.label).toBe(inUnion.get(example.origin.record));
    // Rotated images differ from the originals wherever the turn is not 0.
    const turned = splits.test.examples.findIndex((example) => example.label === 1);
    expect(pixels(splits.test, turned).data).not.toEqual((original.test.examples[splits.test.examples[turned]!.origin.record!]!.image as RawPixels).data);
  });

  it('refuses a test size above the unseen test images, naming the field', async () => {
    await expect(loadDemoTask('fmnist-rotation', { testSize: 1001 })).rejects.toThrow(/testSize must not exceed the 1000 unseen-class test images/);
    await expect(loadDemoTask('fmnist-cifar' as never)).rejects.toThrow(/task must be one of fmnist-unseen, fmnist-rotation, got "fmnist-cifar"/);
  });
});

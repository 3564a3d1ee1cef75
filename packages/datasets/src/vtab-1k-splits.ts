import { ConfigError, integer, oneOf } from '@visual-peft/vit-core';
import type { ClassificationSplit, ImageExample } from './classification-split';
import { SeededRandom, deriveSeed } from '@visual-peft/vit-core';

export interface Vtab1kOptions {
  /** Seed of the draw. Default 0. */
  readonly seed?: number;
  /**
   * 'random': a seeded draw of 1000 distinct training examples, the first 800 for train800 and the
   * rest for val200 (VTAB's own rule: no balancing). 'balanced': the same number per class
   * (80 and 20 for 10 classes). Default 'random'.
   */
  readonly sampling?: 'random' | 'balanced';
  /** Default 800. */
  readonly trainSize?: number;
  /** Default 200. */
  readonly valSize?: number;
}

export type Vtab1kSplits = Record<'train800' | 'val200' | 'train800val200' | 'test', ClassificationSplit>;

/**
 * VTAB-1k-style splits of a dataset that has a training and a test set (Fashion-MNIST): train800
 * and val200 drawn from the training set, disjoint, kept in the training set's order; test is the
 * whole test set.
 */
export function buildVtab1kSplits(train: ClassificationSplit, test: ClassificationSplit, options: Vtab1kOptions = {}): Vtab1kSplits {
  const seed = integer('seed', options.seed ?? 0, 0);
  const sampling = oneOf('sampling', options.sampling ?? 'random', ['random', 'balanced'] as const);
  const trainSize = integer('trainSize', options.trainSize ?? 800, 1);
  const valSize = integer('valSize', options.valSize ?? 200, 1);
  for (const [field, size] of [['trainSize', trainSize], ['valSize', valSize]] as const) {
    if (sampling === 'balanced' && size % train.numClasses !== 0) {
      throw new ConfigError(field, size, `must be a multiple of the class count (${train.numClasses}) for balanced sampling`);
    }
  }
  const random = new SeededRandom(deriveSeed(seed, 0x1000));
  let trainPick: number[];
  let valPick: number[];
  if (sampling === 'random') {
    if (trainSize + valSize > train.examples.length) {
      throw new ConfigError('trainSize + valSize', trainSize + valSize, `must not exceed the ${train.examples.length} training examples`);
    }
    const order = random.shuffle(Array.from({ length: train.examples.length }, (_, i) => i));
    trainPick = order.slice(0, trainSize);
    valPick = order.slice(trainSize, trainSize + valSize);
  } else {
    const perClassTrain = trainSize / train.numClasses;
    const perClassVal = valSize / train.numClasses;
    const byClass = Array.from({ length: train.numClasses }, () => [] as number[]);
    train.examples.forEach((example, index) => byClass[example.label]!.push(index));
    trainPick = [];
    valPick = [];
    byClass.forEach((indices, label) => {
      if (indices.length < perClassTrain + perClassVal) {
        throw new ConfigError('trainSize + valSize', trainSize + valSize, `needs ${perClassTrain + perClassVal} examples of class ${label}, the training set has ${indices.length}`);
      }
      random.shuffle(indices);
      trainPick.push(...indices.slice(0, perClassTrain));
      valPick.push(...indices.slice(perClassTrain, perClassTrain + perClassVal));
    });
  }
  const pick = (split: string, indices: number[]): ClassificationSplit => ({
    ...train,
    split,
    examples: indices.sort((a, b) => a - b).map((index) => train.examples[index]!),
  });
  const train800 = pick('train800', trainPick);
  const val200 = pick('val200', valPick);
  const combined: ImageExample[] = [...train800.examples, ...val200.examples];
  return { train800, val200, train800val200: { ...train, split: 'train800val200', examples: combined }, test: { ...test, split: 'test' } };
}

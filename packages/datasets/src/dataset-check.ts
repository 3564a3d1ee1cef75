import sharp from 'sharp';
import { integer, oneOf } from '@visual-peft/vit-core';
import type { Ade20kSplit, SegmentationSplit } from './ade20k';
import { ADE20K_NUM_CLASSES, ADE20K_SPLITS, loadAde20k } from './ade20k';
import type { ClassificationSplit, ImageExample, Origin } from './classification-split';
import { DatasetError } from './dataset-error';
import { corruptImage } from './decode-image';
import { imageEndProblem } from './image-end';
import { FASHION_MNIST_CLASSES } from './fashion-mnist';
import { FGVC_DATASETS, isFgvcDataset } from './fgvc';
import { classificationSplits, imageFolderProtocol, loadClassificationSplit } from './classification-dataset';
import type { DatasetName } from './dataset-names';
import { DATASET_NAMES } from './dataset-names';
import { decodeLabelMap } from './label-map';
import type { VtabTask } from './vtab';
import { VTAB_TASKS } from './vtab';

/** One thing wrong with a dataset: the file, the line where there is one, and the message. */
export interface DatasetProblem {
  readonly file: string;
  readonly line: number | null;
  readonly message: string;
}

export interface DatasetReport {
  readonly dataset: DatasetName;
  readonly root: string;
  readonly numClasses: number;
  /** Images per split (the entries without problems). */
  readonly splits: Record<string, number>;
  /** Empty when the dataset is fine. */
  readonly problems: DatasetProblem[];
}

export interface CheckOptions {
  /**
   * 'full' decodes every image (minutes for a large dataset), 'header' reads each image's header and
   * its end (a JPEG's EOI after its image data, a PNG's IEND, AVIF and TIFF data within the file),
   * which finds files cut short without decoding them; 'none' checks the split files and that images exist. Default 'full'.
   */
  readonly decode?: 'full' | 'header' | 'none';
  /** Images decoded at once. Default 4. */
  readonly concurrency?: number;
  /** An image folder's held-out fraction per class (see `loadImageFolder`), drawn with `seed`. */
  readonly valFraction?: number;
  readonly seed?: number;
}

type AnySplit = ClassificationSplit | SegmentationSplit;

async function loadSplits(name: DatasetName, root: string, onProblem: (problem: DatasetError) => void, drawn: Pick<CheckOptions, 'valFraction' | 'seed'>): Promise<AnySplit[]> {
  const options = { onProblem, ...drawn };
  // One split after the other, so that problems are listed in a stable order. Fashion-MNIST's
  // VTAB-1k splits are drawn from its two files: checking those covers them. An image folder with a
  // validation split is checked as its train and val splits, without one as all.
  const folder = name === 'image-folder' ? imageFolderProtocol(root, drawn.valFraction) : null;
  const names =
    name === 'ade20k'
      ? ADE20K_SPLITS
      : name === 'fashion-mnist'
        ? (['train', 'test'] as const)
        : folder !== null
          ? [folder.train, ...(folder.validation === null ? [] : [folder.validation])]
          : classificationSplits(name);
  const loaded: AnySplit[] = [];
  for (const split of names) {
    loaded.push(name === 'ade20k' ? await loadAde20k(root, split as Ade20kSplit, options) : await loadClassificationSplit(name, root, split, options));
  }
  return loaded;
}

function numClassesOf(name: DatasetName, splits: readonly AnySplit[]): number {
  if (isFgvcDataset(name)) return FGVC_DATASETS[name].numClasses;
  if (name.startsWith('vtab-')) return VTAB_TASKS[name.slice(5) as VtabTask].numClasses;
  if (name === 'ade20k') return ADE20K_NUM_CLASSES;
  if (name === 'fashion-mnist') return FASHION_MNIST_CLASSES.length;
  return splits[0]?.numClasses ?? 0;
}

async function checkImage(example: ImageExample, decode: 'full' | 'header'): Promise<void> {
  if (typeof example.image !== 'string') return; // in-memory pixels were checked with their IDX file
  try {
    const pipeline = sharp(example.image, { failOn: 'warning' });
    if (decode === 'full') await pipeline.raw().toBuffer();
    else await pipeline.metadata();
  } catch (error) {
    throw corruptImage(example.image, example.origin, error);
  }
  await checkEnd(example.image, example.origin);
}

/**
 * Refuses a file cut short: after the header read (which does not see it) and after a full decode
 * too, since a decoder accepts a PNG cut after its last row, so both modes refuse the same files.
 */
async function checkEnd(image: string, origin: Origin): Promise<void> {
  let missing: string | null;
  try {
    missing = await imageEndProblem(image);
  } catch (error) {
    throw corruptImage(image, origin, error);
  }
  if (missing !== null) throw corruptImage(image, origin, missing);
}

async function checkPair(split: SegmentationSplit, index: number, decode: 'full' | 'header'): Promise<void> {
  const example = split.examples[index]!;
  let size: [number, number];
  try {
    const pipeline = sharp(example.image, { failOn: 'warning' });
    const { width, height } = await pipeline.metadata();
    if (decode === 'full') await pipeline.raw().toBuffer();
    size = [width ?? 0, height ?? 0];
  } catch (error) {
    throw corruptImage(example.image, example.origin, error);
  }
  await checkEnd(example.image, example.origin);
  await checkEnd(example.annotation, example.origin);
  await decodeLabelMap(example.annotation, { numClasses: split.numClasses, ignoreIndex: split.ignoreIndex, reduceZeroLabel: true, expectedSize: size, image: example.image }, example.origin);
}

/**
 * Decodes every image a set of splits lists, once each (`full`: the whole image; `header`: the header
 * and the file's end only, fast; both refuse files cut short), and each segmentation annotation
 * against its image; returns the problems found, in split order. What `checkDataset` runs after loading, and
 * what a command runs on the splits it has loaded before its first step.
 */
export async function checkImages(splits: readonly (ClassificationSplit | SegmentationSplit)[], options: { readonly decode: 'full' | 'header'; readonly concurrency?: number }): Promise<DatasetProblem[]> {
  const decode = oneOf('decode', options.decode, ['full', 'header'] as const);
  const concurrency = integer('concurrency', options.concurrency ?? 4, 1);
  // Each image once, even when two splits list it (train800val200 repeats train800 and val200).
  const seen = new Set<string>();
  const tasks: (() => Promise<void>)[] = [];
  for (const split of splits) {
    split.examples.forEach((example, index) => {
      const key = typeof example.image === 'string' ? example.image : `${example.origin.file}#${example.origin.record}`;
      if (seen.has(key)) return;
      seen.add(key);
      tasks.push('annotation' in example ? () => checkPair(split as SegmentationSplit, index, decode) : () => checkImage(example as ImageExample, decode));
    });
  }
  // Problems are recorded by task position, so concurrency does not change their order.
  const found: (DatasetProblem | undefined)[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const position = next++;
      try {
        await tasks[position]!();
      } catch (error) {
        if (!(error instanceof DatasetError)) throw error;
        found[position] = { file: error.file, line: error.line ?? null, message: error.message };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return found.filter((problem): problem is DatasetProblem => problem !== undefined);
}

/**
 * Checks a dataset before a long run: loads every split collecting problems instead of stopping,
 * then decodes every listed image once (and each annotation against its image).
 */
export async function checkDataset(name: DatasetName, root: string, options: CheckOptions = {}): Promise<DatasetReport> {
  oneOf('dataset', name, DATASET_NAMES);
  const decode = oneOf('decode', options.decode ?? 'full', ['full', 'header', 'none'] as const);
  const concurrency = integer('concurrency', options.concurrency ?? 4, 1);

  const problems: DatasetProblem[] = [];
  const record = (problem: DatasetError): void => {
    problems.push({ file: problem.file, line: problem.line ?? null, message: problem.message });
  };
  const drawn = { ...(options.valFraction === undefined ? {} : { valFraction: options.valFraction }), ...(options.seed === undefined ? {} : { seed: options.seed }) };
  const splits = await loadSplits(name, root, record, drawn);

  if (decode !== 'none') problems.push(...(await checkImages(splits, { decode, concurrency })));
  return {
    dataset: name,
    root,
    numClasses: numClassesOf(name, splits),
    splits: Object.fromEntries(splits.map((split) => [split.split, split.examples.length])),
    problems,
  };
}

import { ConfigError, oneOf } from '@visual-peft/vit-core';
import type { ClassificationSplit } from './classification-split';
import type { DatasetName } from './dataset-names';
import { DATASET_NAMES } from './dataset-names';
import type { FashionMnistSplit } from './fashion-mnist';
import { loadFashionMnist } from './fashion-mnist';
import { FGVC_SPLITS, isFgvcDataset, loadFgvc } from './fgvc';
import type { FgvcSplit } from './fgvc';
import type { ImageFolderSplit } from './image-folder';
import { IMAGE_FOLDER_SPLITS, hasValFolder, loadImageFolder } from './image-folder';
import type { PipelinePresetName } from './image-pipeline';
import type { DatasetLoadOptions } from './read-split-file';
import type { VtabSplit, VtabTask } from './vtab';
import { VTAB_SPLITS, loadVtab } from './vtab';
import { buildVtab1kSplits } from './vtab-1k-splits';

/** Splits of Fashion-MNIST: the release's own, and VTAB-1k-style splits drawn from them. */
export const FASHION_MNIST_SPLITS = ['train', 'test', 'train800', 'val200', 'train800val200'] as const;

/** How a classification dataset is used by default: the paper protocol's tuning splits and its recipe. */
export interface ClassificationProtocol {
  /** Training split for tuning (VTAB-1k: train800; FGVC: train). */
  readonly train: string;
  /** Evaluation split for tuning (VTAB-1k: val200; FGVC: val), or null where the release has none. */
  readonly validation: string | null;
  /** The final run's training split (train800val200) and the test split. */
  readonly finalTrain: string;
  readonly test: string | null;
  /** Input pipeline presets for training and evaluation. */
  readonly trainPipeline: PipelinePresetName;
  readonly evalPipeline: PipelinePresetName;
}

/** The splits a classification dataset offers. */
export function classificationSplits(name: DatasetName): readonly string[] {
  if (isFgvcDataset(name)) return FGVC_SPLITS;
  if (name.startsWith('vtab-')) return VTAB_SPLITS;
  if (name === 'fashion-mnist') return FASHION_MNIST_SPLITS;
  if (name === 'image-folder') return IMAGE_FOLDER_SPLITS;
  throw new ConfigError('dataset', name, 'must be a classification dataset (ade20k is segmentation)');
}

/** The protocol a dataset follows by default (VPT's `train.py` and `tune_vtab.py`: FGVC train/val/test; VTAB-1k train800/val200). */
export function classificationProtocol(name: DatasetName): ClassificationProtocol {
  if (isFgvcDataset(name)) {
    return { train: 'train', validation: 'val', finalTrain: 'train', test: 'test', trainPipeline: 'fgvc-train', evalPipeline: 'fgvc-test' };
  }
  if (name.startsWith('vtab-') || name === 'fashion-mnist') {
    return { train: 'train800', validation: 'val200', finalTrain: 'train800val200', test: 'test', trainPipeline: 'vtab', evalPipeline: 'vtab' };
  }
  if (name === 'image-folder') return { train: 'all', validation: null, finalTrain: 'all', test: null, trainPipeline: 'vtab', evalPipeline: 'vtab' };
  throw new ConfigError('dataset', name, 'must be a classification dataset (ade20k is segmentation)');
}

/**
 * An image folder's protocol: with a validation split (a `val/` folder beside the classes, or a
 * `valFraction` held out of each class) it trains on 'train' and evaluates on 'val'; without one it
 * trains on 'all' and evaluates nothing.
 */
export function imageFolderProtocol(root: string, valFraction?: number): ClassificationProtocol {
  const base = classificationProtocol('image-folder');
  return valFraction !== undefined || hasValFolder(root) ? { ...base, train: 'train', validation: 'val', finalTrain: 'train' } : base;
}

/**
 * One split of a classification dataset by the names the `data` command uses. Fashion-MNIST's
 * train800 / val200 / train800val200 are drawn from its training set with `seed` (VTAB's rule); an
 * image folder's `valFraction` is held out of each class with `seed`.
 */
export async function loadClassificationSplit(
  name: string,
  root: string,
  split: string,
  options: DatasetLoadOptions & { readonly seed?: number; readonly valFraction?: number } = {},
): Promise<ClassificationSplit> {
  const dataset = oneOf('dataset', name, DATASET_NAMES);
  const splits = classificationSplits(dataset);
  if (!splits.includes(split)) throw new ConfigError('split', split, `must be one of ${splits.join(', ')} for ${dataset}`);
  if (isFgvcDataset(dataset)) return loadFgvc(dataset, root, split as FgvcSplit, options);
  if (dataset.startsWith('vtab-')) return loadVtab(dataset.slice(5) as VtabTask, root, split as VtabSplit, options);
  if (dataset === 'image-folder') return loadImageFolder(root, { ...options, split: split as ImageFolderSplit });
  if (split === 'train' || split === 'test') return loadFashionMnist(root, split as FashionMnistSplit, options);
  const drawn = buildVtab1kSplits(await loadFashionMnist(root, 'train', options), await loadFashionMnist(root, 'test', options), { seed: options.seed ?? 0 });
  return drawn[split as 'train800' | 'val200' | 'train800val200'];
}

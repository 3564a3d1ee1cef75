import { oneOf } from '@visual-peft/vit-core';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Origin } from './classification-split';
import { DatasetError } from './dataset-error';
import type { DatasetLoadOptions } from './read-split-file';
import { resolveLoadOptions } from './read-split-file';

export const ADE20K_NUM_CLASSES = 150;
/** Label of pixels that count in no class (mmseg's reduce_zero_label turns 0 into it). */
export const IGNORE_INDEX = 255;
export const ADE20K_SPLITS = ['training', 'validation'] as const;
export type Ade20kSplit = (typeof ADE20K_SPLITS)[number];

/** An image and its per-pixel annotation. */
export interface SegmentationExample {
  readonly image: string;
  readonly annotation: string;
  readonly origin: Origin;
}

export interface SegmentationSplit {
  readonly dataset: string;
  readonly split: string;
  readonly numClasses: number;
  readonly ignoreIndex: number;
  readonly examples: readonly SegmentationExample[];
}

/**
 * One split of ADEChallengeData2016: `images/<split>/*.jpg` paired by name with
 * `annotations/<split>/*.png`. `root` is the ADEChallengeData2016 folder. An image without its
 * annotation is a problem; annotation sizes and values are checked when decoded.
 */
export async function loadAde20k(root: string, split: Ade20kSplit, options?: DatasetLoadOptions): Promise<SegmentationSplit> {
  oneOf('split', split, ADE20K_SPLITS);
  const resolved = resolveLoadOptions(options);
  const examples: SegmentationExample[] = [];
  const result = { dataset: 'ade20k', split, numClasses: ADE20K_NUM_CLASSES, ignoreIndex: IGNORE_INDEX, examples };
  const imageDir = join(root, 'images', split);
  const annotationDir = join(root, 'annotations', split);
  for (const directory of [imageDir, annotationDir]) {
    if (!existsSync(directory)) resolved.onProblem(new DatasetError(directory, 'missing folder (expected ADEChallengeData2016/{images,annotations}/{training,validation})'));
  }
  if (!existsSync(imageDir) || !existsSync(annotationDir)) return result;
  const names = (await readdir(imageDir)).filter((name) => extname(name).toLowerCase() === '.jpg').sort();
  for (const name of names) {
    const image = join(imageDir, name);
    const annotation = join(annotationDir, `${basename(name, extname(name))}.png`);
    if (resolved.checkFiles && !existsSync(annotation)) {
      resolved.onProblem(new DatasetError(annotation, `missing annotation of image ${image}`));
      continue;
    }
    examples.push({ image, annotation, origin: { file: image } });
  }
  return result;
}

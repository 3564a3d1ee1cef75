import { oneOf } from '@visual-peft/vit-core';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { ClassificationSplit, ImageExample } from './classification-split';
import { DatasetError } from './dataset-error';
import type { DatasetLoadOptions } from './read-split-file';
import { checkImageExists, readSplitFile, resolveLoadOptions } from './read-split-file';
import { parseSplitJson } from './split-json';

/** The five FGVC datasets of VPT: image folder under the root (`src/data/datasets/json_dataset.py`) and class count (`configs/prompt/<dataset>.yaml`). */
export const FGVC_DATASETS = {
  cub: { title: 'CUB-200-2011', imageDir: 'images', numClasses: 200 },
  nabirds: { title: 'NABirds', imageDir: 'images', numClasses: 555 },
  'oxford-flowers': { title: 'Oxford Flowers', imageDir: '', numClasses: 102 },
  'stanford-dogs': { title: 'Stanford Dogs', imageDir: 'Images', numClasses: 120 },
  'stanford-cars': { title: 'Stanford Cars', imageDir: '', numClasses: 196 },
} as const;

export type FgvcDataset = keyof typeof FGVC_DATASETS;

export const FGVC_SPLITS = ['train', 'val', 'test'] as const;
export type FgvcSplit = (typeof FGVC_SPLITS)[number];

export function isFgvcDataset(name: string): name is FgvcDataset {
  return Object.hasOwn(FGVC_DATASETS, name);
}

/**
 * One split of an FGVC dataset through VPT's split file `{root}/{split}.json` (relative image path
 * -> class id). As VPT does, the ids are remapped to 0..C-1 over the sorted set of ids in that file;
 * the file must hold exactly C distinct ids, so every split maps ids the same way.
 */
export async function loadFgvc(dataset: FgvcDataset, root: string, split: FgvcSplit, options?: DatasetLoadOptions): Promise<ClassificationSplit> {
  oneOf('dataset', dataset, Object.keys(FGVC_DATASETS));
  oneOf('split', split, FGVC_SPLITS);
  const resolved = resolveLoadOptions(options);
  const { imageDir, numClasses, title } = FGVC_DATASETS[dataset];
  const result = { dataset, split, numClasses, examples: [] as ImageExample[] };
  const imageRoot = join(root, imageDir);
  if (!existsSync(imageRoot)) {
    resolved.onProblem(new DatasetError(imageRoot, `missing image folder (${title} keeps its images in ${imageDir === '' ? 'the root' : `${imageDir}/`})`));
    return result;
  }
  const file = join(root, `${split}.json`);
  const text = await readSplitFile(file, `VPT's ${split}.json for ${title}`, resolved.onProblem);
  if (text === null) return result;
  const entries = parseSplitJson(text, file, resolved.onProblem);
  const classIds = [...new Set(entries.map((entry) => entry.classId))].sort((a, b) => a - b);
  if (entries.length > 0 && classIds.length !== numClasses) {
    resolved.onProblem(new DatasetError(file, `has ${classIds.length} distinct class ids, ${title} has ${numClasses} classes`));
  }
  const contiguous = new Map(classIds.map((id, index) => [id, index]));
  for (const entry of entries) {
    const label = contiguous.get(entry.classId)!;
    if (label >= numClasses) continue; // already reported: more ids than classes
    const image = join(imageRoot, entry.path);
    if (checkImageExists(image, file, entry.line, resolved)) result.examples.push({ image, label, origin: { file, line: entry.line } });
  }
  return result;
}

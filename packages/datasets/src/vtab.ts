import { oneOf } from '@visual-peft/vit-core';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ClassificationSplit, ImageExample } from './classification-split';
import { DatasetError } from './dataset-error';
import type { DatasetLoadOptions } from './read-split-file';
import { checkImageExists, readSplitFile, resolveLoadOptions } from './read-split-file';

export type VtabGroup = 'natural' | 'specialized' | 'structured';

/** The 19 task folders of the VTAB-1k release, their class counts and groups (docs/recipes.md, VTAB-1k). */
export const VTAB_TASKS = {
  caltech101: { numClasses: 102, group: 'natural' },
  cifar: { numClasses: 100, group: 'natural' },
  dtd: { numClasses: 47, group: 'natural' },
  oxford_flowers102: { numClasses: 102, group: 'natural' },
  oxford_iiit_pet: { numClasses: 37, group: 'natural' },
  svhn: { numClasses: 10, group: 'natural' },
  sun397: { numClasses: 397, group: 'natural' },
  patch_camelyon: { numClasses: 2, group: 'specialized' },
  eurosat: { numClasses: 10, group: 'specialized' },
  resisc45: { numClasses: 45, group: 'specialized' },
  diabetic_retinopathy: { numClasses: 5, group: 'specialized' },
  clevr_count: { numClasses: 8, group: 'structured' },
  clevr_dist: { numClasses: 6, group: 'structured' },
  dmlab: { numClasses: 6, group: 'structured' },
  kitti: { numClasses: 4, group: 'structured' },
  dsprites_loc: { numClasses: 16, group: 'structured' },
  dsprites_ori: { numClasses: 16, group: 'structured' },
  smallnorb_azi: { numClasses: 18, group: 'structured' },
  smallnorb_ele: { numClasses: 9, group: 'structured' },
} as const satisfies Record<string, { numClasses: number; group: VtabGroup }>;

export type VtabTask = keyof typeof VTAB_TASKS;

/** Tune on train800 / val200, report train800val200 -> test. */
export const VTAB_SPLITS = ['train800', 'val200', 'train800val200', 'test'] as const;
export type VtabSplit = (typeof VTAB_SPLITS)[number];

export function isVtabTask(name: string): name is VtabTask {
  return Object.hasOwn(VTAB_TASKS, name);
}

/**
 * One split of a VTAB-1k task from the common folder release: `<task>/<split>.txt` lines
 * `images/<split>/NNNNNN.jpg <label>`, paths relative to the task folder. `root` is the folder holding
 * the task folders (`vtab-1k/`) or the task folder itself.
 */
export async function loadVtab(task: VtabTask, root: string, split: VtabSplit, options?: DatasetLoadOptions): Promise<ClassificationSplit> {
  oneOf('task', task, Object.keys(VTAB_TASKS));
  oneOf('split', split, VTAB_SPLITS);
  const resolved = resolveLoadOptions(options);
  const { numClasses } = VTAB_TASKS[task];
  // `root` is vtab-1k/ unless it is the task folder itself (named after the task, no such subfolder).
  const nested = join(root, task);
  const taskDir = basename(root) === task && !existsSync(nested) ? root : nested;
  const file = join(taskDir, `${split}.txt`);
  const examples: ImageExample[] = [];
  const text = await readSplitFile(file, `VTAB-1k ${task}/${split}.txt`, resolved.onProblem);
  (text ?? '').split('\n').forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === '') return;
    const fields = content.split(/\s+/);
    const labelText = fields.pop()!;
    if (fields.length === 0) {
      resolved.onProblem(new DatasetError(file, `expected "<image path> <label>", got ${JSON.stringify(content)}`, line));
      return;
    }
    const label = Number(labelText);
    if (!/^-?\d+$/.test(labelText) || label < 0 || label >= numClasses) {
      resolved.onProblem(new DatasetError(file, `label ${labelText} is outside 0..${numClasses - 1} (${task} has ${numClasses} classes)`, line));
      return;
    }
    const image = join(taskDir, fields.join(' '));
    if (checkImageExists(image, file, line, resolved)) examples.push({ image, label, origin: { file, line } });
  });
  return { dataset: `vtab-${task}`, split, numClasses, examples };
}

import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ConfigError, SeededRandom, deriveSeed, integer } from '@visual-peft/vit-core';
import type { ClassificationSplit, ImageExample } from './classification-split';
import { DatasetError } from './dataset-error';
import type { DatasetLoadOptions } from './read-split-file';
import { resolveLoadOptions } from './read-split-file';

/** File endings the decoder (sharp) reads; other files are passed over, as torchvision's ImageFolder does. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif'] as const;

/** The folder beside the class folders that holds the validation images (`root/val/<class>/<image>`). */
export const VAL_FOLDER = 'val';

/** An image folder's splits: `all` (every class folder), and `train` / `val` when it has a validation split. */
export const IMAGE_FOLDER_SPLITS = ['all', 'train', 'val'] as const;
export type ImageFolderSplit = (typeof IMAGE_FOLDER_SPLITS)[number];

export interface ImageFolderOptions extends DatasetLoadOptions {
  /** Default 'all'. 'train' and 'val' need a `val/` folder or `valFraction`. */
  readonly split?: ImageFolderSplit;
  /**
   * Without a `val/` folder: the fraction of each class's images held out for 'val', drawn with
   * `seed` (stratified, so every class is in both splits). In (0, 1).
   */
  readonly valFraction?: number;
  /** Seed of the `valFraction` draw. Default 0. */
  readonly seed?: number;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every image file (by `IMAGE_EXTENSIONS`) under a folder, subfolders included, in code-point order of their names. */
export async function listImages(directory: string): Promise<string[]> {
  const entries = (await readdir(directory, { withFileTypes: true })).sort((a, b) => byCodePoint(a.name, b.name));
  const images: string[] = [];
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) images.push(...(await listImages(path)));
    else if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(entry.name).toLowerCase())) images.push(path);
  }
  return images;
}

async function listClasses(directory: string, exclude: string | null): Promise<string[]> {
  return (await readdir(directory, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== exclude)
    .map((entry) => entry.name)
    .sort(byCodePoint);
}

/** Whether an image folder has a `val/` folder beside its class folders. */
export function hasValFolder(root: string): boolean {
  return existsSync(join(root, VAL_FOLDER));
}

/**
 * Your own data as `root/<class>/<image>` (subfolders of a class included): classes are the folder
 * names sorted by code point (Python's `sorted`, as torchvision), labels their positions. A class
 * folder without images is a problem, as in torchvision.
 *
 * A validation split comes from `root/val/<class>/<image>` (the same class names; `val` is then not a
 * class) or from `valFraction`: each class's images shuffled with `seed` and the first
 * round(fraction x count), at least one and at most all but one, held out. 'all' is every class
 * folder (not `val/`), whatever the options.
 */
export async function loadImageFolder(root: string, options: ImageFolderOptions = {}): Promise<ClassificationSplit> {
  const { onProblem } = resolveLoadOptions(options);
  const split = options.split ?? 'all';
  const withValFolder = existsSync(root) && hasValFolder(root);
  const result = { dataset: 'image-folder', split, numClasses: 0, classNames: [] as string[], examples: [] as ImageExample[] };
  if (options.valFraction !== undefined) {
    const fraction = options.valFraction;
    if (!(fraction > 0 && fraction < 1)) throw new ConfigError('valFraction', fraction, 'must be in (0, 1)');
    if (withValFolder) throw new ConfigError('valFraction', fraction, `must not be given: ${join(root, VAL_FOLDER)} already holds the validation split`);
  }
  if (split !== 'all' && !withValFolder && options.valFraction === undefined) {
    throw new ConfigError('split', split, `needs a validation split: a ${VAL_FOLDER}/ folder in ${root} or a val fraction`);
  }
  if (!existsSync(root)) {
    onProblem(new DatasetError(root, 'missing image folder root'));
    return result;
  }
  const classNames = await listClasses(root, withValFolder ? VAL_FOLDER : null);
  if (classNames.length === 0) onProblem(new DatasetError(root, 'has no class folders (expected root/<class>/<image>)'));

  if (split === 'val' && withValFolder) {
    const valRoot = join(root, VAL_FOLDER);
    const valClasses = await listClasses(valRoot, null);
    const missing = classNames.filter((name) => !valClasses.includes(name));
    const extra = valClasses.filter((name) => !classNames.includes(name));
    if (missing.length > 0) onProblem(new DatasetError(valRoot, `has no folder for class${missing.length === 1 ? '' : 'es'} ${missing.join(', ')} (every class needs validation images)`));
    if (extra.length > 0) onProblem(new DatasetError(valRoot, `has class folder${extra.length === 1 ? '' : 's'} ${extra.join(', ')} that ${root} does not have`));
    for (const [label, name] of classNames.entries()) {
      if (!valClasses.includes(name)) continue;
      const images = await listImages(join(valRoot, name));
      if (images.length === 0) onProblem(new DatasetError(join(valRoot, name), `class folder has no images (${IMAGE_EXTENSIONS.join(', ')})`));
      for (const image of images) result.examples.push({ image, label, origin: { file: image } });
    }
    return { ...result, numClasses: classNames.length, classNames };
  }

  const seed = integer('seed', options.seed ?? 0, 0);
  for (const [label, name] of classNames.entries()) {
    const images = await listImages(join(root, name));
    if (images.length === 0) onProblem(new DatasetError(join(root, name), `class folder has no images (${IMAGE_EXTENSIONS.join(', ')})`));
    let kept = images;
    if (split !== 'all' && options.valFraction !== undefined && images.length > 0) {
      if (images.length < 2) onProblem(new DatasetError(join(root, name), `class folder has 1 image: a val fraction needs at least 2 (one for each split)`));
      // One draw per class from the seed and the label, so a class's split does not depend on the other classes.
      const order = new SeededRandom(deriveSeed(seed, label)).shuffle(images.map((_, index) => index));
      const held = Math.min(images.length - 1, Math.max(1, Math.round(options.valFraction * images.length)));
      const chosen = new Set(split === 'val' ? order.slice(0, held) : order.slice(held));
      kept = images.filter((_, index) => chosen.has(index));
    }
    for (const image of kept) result.examples.push({ image, label, origin: { file: image } });
  }
  return { ...result, numClasses: classNames.length, classNames };
}

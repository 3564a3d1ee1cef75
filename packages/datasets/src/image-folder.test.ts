import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { imageFolderProtocol, loadClassificationSplit } from './classification-dataset';
import { checkDataset } from './dataset-check';
import { DatasetError } from './dataset-error';
import { loadImageFolder } from './image-folder';
import { writeSyntheticDataset } from './synthetic-dataset';

const base = mkdtempSync(join(tmpdir(), 'datasets-folder-'));
// Committed: Fashion-MNIST test images as PNG, root/<class>/{0,1,2}.png and root/val/<class>/0.png.
const fixture = fileURLToPath(new URL('./__fixtures__/image-folder', import.meta.url));
const relative = (root: string, images: readonly { image: unknown; label: number }[]) => images.map((example) => [String(example.image).slice(root.length + 1), example.label]);

/** A folder of `counts[i]` copies of one PNG for class `c<i>`. */
function writeCounts(root: string, counts: readonly number[]): void {
  const png = readFileSync(join(fixture, 'sandal', '0.png'));
  counts.forEach((count, label) => {
    mkdirSync(join(root, `c${label}`), { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(root, `c${label}`, `${String(i).padStart(2, '0')}.png`), png);
  });
}

describe('loadImageFolder', () => {
  it('labels classes by code-point order and walks subfolders, ignoring other files', async () => {
    const root = join(base, 'mixed');
    const synthetic = await writeSyntheticDataset('image-folder', join(base, 'source'), { classes: 1 });
    const png = (await import('node:fs')).readFileSync(synthetic.images[0]!);
    for (const path of ['b/1.png', 'B/x.PNG', 'a/deep/2.png', 'a/1.jpeg', 'a/notes.txt', '.hidden/3.png']) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), png);
    }
    const loaded = await loadImageFolder(root);
    expect(loaded.classNames).toEqual(['B', 'a', 'b']);
    expect(loaded.examples.map((example) => [example.image.toString().slice(root.length + 1), example.label])).toEqual([
      ['B/x.PNG', 0],
      ['a/1.jpeg', 1],
      ['a/deep/2.png', 1],
      ['b/1.png', 2],
    ]);
    expect(loaded).toMatchObject({ dataset: 'image-folder', split: 'all', numClasses: 3 });
  });

  it('reports an empty class, a root without classes and a missing root', async () => {
    const root = join(base, 'empty-class');
    mkdirSync(join(root, 'cats'), { recursive: true });
    await expect(loadImageFolder(root)).rejects.toThrow(new DatasetError(join(root, 'cats'), 'class folder has no images (.jpg, .jpeg, .png, .webp, .tif, .tiff, .gif, .avif)'));
    const flat = join(base, 'flat');
    mkdirSync(flat);
    await expect(loadImageFolder(flat)).rejects.toThrow(`${flat}: has no class folders (expected root/<class>/<image>)`);
    await expect(loadImageFolder(join(base, 'missing'))).rejects.toThrow('missing image folder root');
  });
});

describe('an image folder’s validation split', () => {
  it('reads val/ beside the class folders: val is not a class, train is the class folders, labels match', async () => {
    const train = await loadImageFolder(fixture, { split: 'train' });
    const val = await loadImageFolder(fixture, { split: 'val' });
    expect(train.classNames).toEqual(['sandal', 'sneaker']);
    expect(val.classNames).toEqual(['sandal', 'sneaker']);
    expect(relative(fixture, train.examples)).toEqual([['sandal/0.png', 0], ['sandal/1.png', 0], ['sandal/2.png', 0], ['sneaker/0.png', 1], ['sneaker/1.png', 1], ['sneaker/2.png', 1]]);
    expect(relative(fixture, val.examples)).toEqual([['val/sandal/0.png', 0], ['val/sneaker/0.png', 1]]);
    expect((await loadImageFolder(fixture)).examples).toEqual(train.examples);
    expect(imageFolderProtocol(fixture)).toMatchObject({ train: 'train', validation: 'val' });
    expect((await loadClassificationSplit('image-folder', fixture, 'val')).split).toBe('val');
  });

  it('names val/ when a class is missing there or it has a class the root does not', async () => {
    const root = join(base, 'mismatch');
    cpSync(fixture, root, { recursive: true });
    rmSync(join(root, 'val', 'sneaker'), { recursive: true });
    cpSync(join(root, 'val', 'sandal'), join(root, 'val', 'boot'), { recursive: true });
    await expect(loadImageFolder(root, { split: 'val' })).rejects.toThrow(new DatasetError(join(root, 'val'), 'has no folder for class sneaker (every class needs validation images)'));
    const report = await checkDataset('image-folder', root, { decode: 'none' });
    expect(report.problems.map((problem) => [problem.file, problem.message])).toEqual([
      [join(root, 'val'), `${join(root, 'val')}: has no folder for class sneaker (every class needs validation images)`],
      [join(root, 'val'), `${join(root, 'val')}: has class folder boot that ${root} does not have`],
    ]);
    expect(report.splits).toEqual({ train: 6, val: 1 });
  });

  it('holds out a seeded fraction of each class: disjoint, covering, deterministic, at least one image on each side', async () => {
    const root = join(base, 'fraction');
    writeCounts(root, [10, 4, 2]);
    const draw = async (split: 'train' | 'val', seed: number) => relative(root, (await loadImageFolder(root, { split, valFraction: 0.3, seed })).examples);
    const [train, val] = [await draw('train', 5), await draw('val', 5)];
    // round(0.3 x 10) = 3, round(0.3 x 4) = 1, round(0.3 x 2) = 1: every class on both sides.
    const perClass = (rows: (string | number)[][]) => [0, 1, 2].map((label) => rows.filter((row) => row[1] === label).length);
    expect(perClass(val)).toEqual([3, 1, 1]);
    expect(perClass(train)).toEqual([7, 3, 1]);
    expect([...train, ...val].map((row) => row[0]).sort()).toEqual(relative(root, (await loadImageFolder(root)).examples).map((row) => row[0]));
    expect(await draw('val', 5)).toEqual(val);
    const seeds = await Promise.all([0, 1, 2, 3].map((seed) => draw('val', seed)));
    expect(new Set(seeds.map((rows) => JSON.stringify(rows))).size).toBeGreaterThan(1);
    // A large fraction still leaves one image per class for training.
    expect(perClass(relative(root, (await loadImageFolder(root, { split: 'train', valFraction: 0.95 })).examples))).toEqual([1, 1, 1]);
    expect(imageFolderProtocol(root, 0.3)).toMatchObject({ train: 'train', validation: 'val' });
    expect(imageFolderProtocol(root)).toMatchObject({ train: 'all', validation: null });
    expect((await checkDataset('image-folder', root, { decode: 'none', valFraction: 0.3, seed: 5 })).splits).toEqual({ train: 11, val: 5 });
  });

  it('refuses a class of one image, a fraction outside (0, 1), a fraction beside val/, and train/val without a split', async () => {
    const root = join(base, 'single');
    writeCounts(root, [3, 1]);
    await expect(loadImageFolder(root, { split: 'val', valFraction: 0.5 })).rejects.toThrow(new DatasetError(join(root, 'c1'), 'class folder has 1 image: a val fraction needs at least 2 (one for each split)'));
    await expect(loadImageFolder(root, { split: 'val', valFraction: 1 })).rejects.toThrow(new ConfigError('valFraction', 1, 'must be in (0, 1)'));
    await expect(loadImageFolder(fixture, { split: 'val', valFraction: 0.5 })).rejects.toThrow(ConfigError);
    await expect(loadImageFolder(root, { split: 'train' })).rejects.toThrow(new ConfigError('split', 'train', `needs a validation split: a val/ folder in ${root} or a val fraction`));
  });
});

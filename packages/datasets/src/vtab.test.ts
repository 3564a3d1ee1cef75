import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './dataset-error';
import { writeSyntheticDataset } from './synthetic-dataset';
import { VTAB_SPLITS, VTAB_TASKS, loadVtab } from './vtab';

const root = mkdtempSync(join(tmpdir(), 'datasets-vtab-'));

describe('VTAB-1k loader', () => {
  it('knows the 19 tasks, their class counts and groups (docs/recipes.md, VTAB-1k)', () => {
    const byGroup = (group: string) => Object.entries(VTAB_TASKS).filter(([, task]) => task.group === group).map(([name, task]) => `${name} ${task.numClasses}`);
    expect(byGroup('natural')).toEqual(['caltech101 102', 'cifar 100', 'dtd 47', 'oxford_flowers102 102', 'oxford_iiit_pet 37', 'svhn 10', 'sun397 397']);
    expect(byGroup('specialized')).toEqual(['patch_camelyon 2', 'eurosat 10', 'resisc45 45', 'diabetic_retinopathy 5']);
    expect(byGroup('structured')).toEqual([
      'clevr_count 8', 'clevr_dist 6', 'dmlab 6', 'kitti 4', 'dsprites_loc 16', 'dsprites_ori 16', 'smallnorb_azi 18', 'smallnorb_ele 9',
    ]);
  });

  it('loads the four splits from the vtab-1k folder or the task folder', async () => {
    await writeSyntheticDataset('vtab-kitti', root, { count: 6 });
    const counts = await Promise.all(VTAB_SPLITS.map(async (split) => (await loadVtab('kitti', root, split)).examples.length));
    expect(counts).toEqual([6, 6, 12, 6]);
    const train = await loadVtab('kitti', join(root, 'kitti'), 'train800');
    expect(train).toMatchObject({ dataset: 'vtab-kitti', split: 'train800', numClasses: 4 });
    expect(train.examples.map((example) => example.label)).toEqual([0, 1, 2, 3, 0, 1]);
    expect(train.examples[1]).toEqual({ image: join(root, 'kitti', 'images/train800/000001.jpg'), label: 1, origin: { file: join(root, 'kitti', 'train800.txt'), line: 2 } });
  });

  describe('bad input names the file and the line', () => {
    const ready = writeSyntheticDataset('vtab-dmlab', root, { count: 3 });
    const file = join(root, 'dmlab', 'test.txt');

    it('a label outside 0..C-1', async () => {
      await ready;
      writeFileSync(file, 'images/test/000000.jpg 0\n\nimages/test/000001.jpg 6\n');
      await expect(loadVtab('dmlab', root, 'test')).rejects.toThrow(new DatasetError(file, 'label 6 is outside 0..5 (dmlab has 6 classes)', 3));
      writeFileSync(file, 'images/test/000000.jpg -1\n');
      await expect(loadVtab('dmlab', root, 'test')).rejects.toThrow(`${file}:1: label -1 is outside 0..5`);
      writeFileSync(file, 'images/test/000000.jpg cat\n');
      await expect(loadVtab('dmlab', root, 'test')).rejects.toThrow(`${file}:1: label cat is outside 0..5`);
    });

    it('a line without a label, and an image that does not exist', async () => {
      await ready;
      writeFileSync(file, 'images/test/000000.jpg\n');
      await expect(loadVtab('dmlab', root, 'test')).rejects.toThrow(`${file}:1: expected "<image path> <label>", got "images/test/000000.jpg"`);
      writeFileSync(file, 'images/test/000000.jpg 1\n');
      appendFileSync(file, 'images/test/999999.jpg 2\n');
      await expect(loadVtab('dmlab', root, 'test')).rejects.toThrow(`${file}:2: image ${join(root, 'dmlab', 'images/test/999999.jpg')} does not exist`);
    });

    it('a missing split file', async () => {
      await ready;
      rmSync(join(root, 'dmlab', 'val200.txt'));
      await expect(loadVtab('dmlab', root, 'val200')).rejects.toThrow(`${join(root, 'dmlab', 'val200.txt')}: missing split file (VTAB-1k dmlab/val200.txt)`);
      await expect(loadVtab('imagenet' as 'dmlab', root, 'test')).rejects.toThrow(/task must be one of caltech101, .*smallnorb_ele, got "imagenet"/);
      await expect(loadVtab('dmlab', root, 'train' as 'test')).rejects.toThrow(/split must be one of train800, val200, train800val200, test, got "train"/);
    });
  });
});

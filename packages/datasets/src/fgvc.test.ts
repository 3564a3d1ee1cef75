import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './dataset-error';
import type { FgvcDataset } from './fgvc';
import { FGVC_DATASETS, loadFgvc } from './fgvc';
import { writeSyntheticDataset } from './synthetic-dataset';

const base = mkdtempSync(join(tmpdir(), 'datasets-fgvc-'));

describe('FGVC loaders (VPT split files)', () => {
  it("has the five datasets with VPT's class counts and image roots", () => {
    expect(Object.fromEntries(Object.entries(FGVC_DATASETS).map(([name, info]) => [name, [info.numClasses, info.imageDir]]))).toEqual({
      cub: [200, 'images'],
      nabirds: [555, 'images'],
      'oxford-flowers': [102, ''],
      'stanford-dogs': [120, 'Images'],
      'stanford-cars': [196, ''],
    });
  });

  for (const dataset of Object.keys(FGVC_DATASETS) as FgvcDataset[]) {
    it(`loads ${dataset}: every class once per split, ids remapped to 0..C-1`, async () => {
      const root = join(base, dataset);
      await writeSyntheticDataset(dataset, root);
      const { numClasses, imageDir } = FGVC_DATASETS[dataset];
      for (const split of ['train', 'val', 'test'] as const) {
        const loaded = await loadFgvc(dataset, root, split);
        expect(loaded.numClasses).toBe(numClasses);
        expect(loaded.examples).toHaveLength(numClasses);
        expect(loaded.examples.map((example) => example.label).sort((a, b) => a - b)).toEqual(Array.from({ length: numClasses }, (_, i) => i));
        expect(loaded.examples[0]!.image).toBe(join(root, imageDir, `class_001/${split}_0.jpg`));
        expect(loaded.examples[0]!.origin).toEqual({ file: join(root, `${split}.json`), line: 1 });
      }
    });
  }

  it('remaps sorted ids, whatever their values', async () => {
    const root = join(base, 'remap');
    const synthetic = await writeSyntheticDataset('cub', root);
    const entries = Object.entries(JSON.parse((await import('node:fs')).readFileSync(synthetic.splitFiles.train!, 'utf8')) as Record<string, number>);
    // ids 1..200 become 10, 20, ..., 2000: labels must not change.
    writeFileSync(synthetic.splitFiles.train!, JSON.stringify(Object.fromEntries(entries.map(([path, id]) => [path, id * 10]))));
    const loaded = await loadFgvc('cub', root, 'train');
    expect(loaded.examples.map((example) => example.label)).toEqual(entries.map(([, id]) => id - 1));
  });

  describe('bad input', () => {
    const root = join(base, 'bad');
    const ready = writeSyntheticDataset('stanford-dogs', root);

    it('a missing split file names the file', async () => {
      const synthetic = await ready;
      rmSync(synthetic.splitFiles.val!);
      await expect(loadFgvc('stanford-dogs', root, 'val')).rejects.toThrow(new DatasetError(join(root, 'val.json'), "missing split file (VPT's val.json for Stanford Dogs)"));
    });

    it('a path that does not exist names the split file, the line and the image', async () => {
      await ready;
      const lines = ['{', ...Array.from({ length: 120 }, (_, c) => `  "class_${String(c + 1).padStart(3, '0')}/train_0.jpg": ${c},`), '  "nowhere/ghost.jpg": 3', '}'];
      writeFileSync(join(root, 'train.json'), lines.join('\n'));
      const error = await loadFgvc('stanford-dogs', root, 'train').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DatasetError);
      expect((error as DatasetError).line).toBe(122);
      expect((error as Error).message).toBe(`${join(root, 'train.json')}:122: image ${join(root, 'Images', 'nowhere/ghost.jpg')} does not exist`);
    });

    it('a class count that is not the dataset\'s is refused', async () => {
      await ready;
      writeFileSync(join(root, 'test.json'), JSON.stringify({ 'class_001/test_0.jpg': 1, 'class_002/test_0.jpg': 2 }));
      await expect(loadFgvc('stanford-dogs', root, 'test')).rejects.toThrow(/test\.json: has 2 distinct class ids, Stanford Dogs has 120 classes/);
    });

    it('a class id that is not an integer names the line', async () => {
      await ready;
      writeFileSync(join(root, 'test.json'), '{\n "class_001/test_0.jpg": 1,\n "class_002/test_0.jpg": "2"\n}');
      await expect(loadFgvc('stanford-dogs', root, 'test')).rejects.toThrow(/test\.json:3: class id of "class_002\/test_0\.jpg" must be an integer, got "2"/);
    });

    it('collects every problem with onProblem instead of throwing', async () => {
      await ready;
      writeFileSync(join(root, 'test.json'), '{\n "class_001/test_0.jpg": 1.5,\n "a/missing.jpg": 2,\n "a/missing.jpg": 2\n}');
      const problems: DatasetError[] = [];
      const loaded = await loadFgvc('stanford-dogs', root, 'test', { onProblem: (problem) => problems.push(problem) });
      expect(problems.map((problem) => problem.message.replace(root, '<root>'))).toEqual([
        '<root>/test.json:2: class id of "class_001/test_0.jpg" must be an integer, got 1.5',
        '<root>/test.json:4: "a/missing.jpg" is listed twice (first on line 3)',
        '<root>/test.json: has 1 distinct class ids, Stanford Dogs has 120 classes',
        `<root>/test.json:3: image ${join(root, 'Images', 'a/missing.jpg')} does not exist`,
      ]);
      expect(loaded.examples).toEqual([]);
    });

    it('a file that is not a JSON object names the line where it breaks', async () => {
      await ready;
      writeFileSync(join(root, 'test.json'), '{\n "a.jpg": 1\n "b.jpg": 2\n}');
      await expect(loadFgvc('stanford-dogs', root, 'test')).rejects.toThrow(/test\.json:3: expected ',' or '}', found "\\""/);
      writeFileSync(join(root, 'test.json'), '["a.jpg", 1]');
      await expect(loadFgvc('stanford-dogs', root, 'test')).rejects.toThrow(/test\.json:1: expected '\{' \(a JSON object/);
    });

    it('a missing image folder and unknown names are refused by field', async () => {
      await expect(loadFgvc('cub', join(base, 'empty'), 'train')).rejects.toThrow(/empty\/images: missing image folder \(CUB-200-2011 keeps its images in images\/\)/);
      await expect(loadFgvc('cub200' as 'cub', root, 'train')).rejects.toThrow(ConfigError);
      await expect(loadFgvc('cub', root, 'trainval' as 'train')).rejects.toThrow(/split must be one of train, val, test, got "trainval"/);
    });
  });
});

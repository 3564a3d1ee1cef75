import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { checkDataset, checkImages } from './dataset-check';
import { loadClassificationSplit } from './classification-dataset';
import { DATASET_NAMES } from './dataset-names';
import { writeSyntheticDataset } from './synthetic-dataset';

const base = mkdtempSync(join(tmpdir(), 'datasets-check-'));

describe('checkDataset', () => {
  it('knows the names of the data command', () => {
    expect(DATASET_NAMES).toHaveLength(5 + 19 + 3);
    expect(DATASET_NAMES).toEqual(expect.arrayContaining(['cub', 'nabirds', 'oxford-flowers', 'stanford-dogs', 'stanford-cars', 'vtab-cifar', 'vtab-clevr_count', 'ade20k', 'fashion-mnist', 'image-folder']));
  });

  it('reports counts per split and no problems for clean datasets', async () => {
    const cases = [
      ['oxford-flowers', {}, 102, { train: 102, val: 102, test: 102 }],
      ['vtab-clevr_count', { count: 3 }, 8, { train800: 3, val200: 3, train800val200: 6, test: 3 }],
      ['ade20k', { count: 2 }, 150, { training: 2, validation: 2 }],
      ['fashion-mnist', { count: 5 }, 10, { train: 5, test: 5 }],
      ['image-folder', { classes: 4, count: 2 }, 4, { all: 8 }],
    ] as const;
    for (const [name, options, numClasses, splits] of cases) {
      const root = join(base, name);
      await writeSyntheticDataset(name, root, options);
      expect(await checkDataset(name, root)).toEqual({ dataset: name, root, numClasses, splits, problems: [] });
    }
  });

  it('lists every problem with its file and line instead of stopping at the first', async () => {
    const root = join(base, 'broken-vtab');
    const synthetic = await writeSyntheticDataset('vtab-eurosat', root, { count: 4 });
    const train = synthetic.splitFiles.train800!;
    writeFileSync(train, 'images/train800/000000.jpg 0\nimages/train800/000001.jpg 10\nimages/train800/missing.jpg 1\nimages/train800/000003.jpg 3\n');
    const victim = synthetic.images[3]!;
    const bytes = readFileSync(victim);
    writeFileSync(victim, bytes.subarray(0, bytes.length - 40));
    rmSync(synthetic.splitFiles.test!);
    const report = await checkDataset('vtab-eurosat', root);
    expect(report.splits).toEqual({ train800: 2, val200: 4, train800val200: 8, test: 0 });
    expect(report.problems.map((problem) => [problem.file, problem.line])).toEqual([
      [train, 2],
      [train, 3],
      [synthetic.splitFiles.test, null],
      // Decoded once although train800val200 lists it too.
      [train, 4],
    ]);
    expect(report.problems[0]!.message).toBe(`${train}:2: label 10 is outside 0..9 (eurosat has 10 classes)`);
    expect(report.problems[3]!.message).toMatch(new RegExp(`^${train}:4: cannot decode image ${victim}: `));
    // The header check reads the file's end too: it refuses the truncation the same way.
    const headers = await checkDataset('vtab-eurosat', root, { decode: 'header' });
    expect(headers.problems.map((problem) => [problem.file, problem.line])).toEqual(report.problems.map((problem) => [problem.file, problem.line]));
    expect(headers.problems[3]!.message).toBe(`${train}:4: cannot decode image ${victim}: cut short: no end-of-image marker (FF D9) after its image data (the file ends after ${bytes.length - 40} bytes)`);
    expect((await checkDataset('vtab-eurosat', root, { decode: 'none' })).problems).toHaveLength(3);
  });

  it('finds annotations that do not fit their images', async () => {
    const root = join(base, 'broken-ade');
    const synthetic = await writeSyntheticDataset('ade20k', root, { count: 2 });
    await sharp(Buffer.alloc(12), { raw: { width: 4, height: 3, channels: 1 } }).toColourspace('b-w').png().toFile(synthetic.annotations[3]!);
    const report = await checkDataset('ade20k', root);
    expect(report.problems.map((problem) => problem.message)).toEqual([`${synthetic.annotations[3]}: annotation is 4x3 but its image ${synthetic.images[3]} is 40x30`]);
  });

  it('names the field of a bad option', async () => {
    await expect(checkDataset('imagenet' as 'cub', base)).rejects.toThrow(/dataset must be one of cub, nabirds/);
    await expect(checkDataset('cub', base, { decode: 'some' as 'full' })).rejects.toThrow(/decode must be one of full, header, none, got "some"/);
    await expect(checkDataset('cub', base, { concurrency: 0 })).rejects.toThrow(/concurrency must be an integer >= 1, got 0/);
  });
});

describe('checkImages', () => {
  it('refuses images cut short in every format the reader takes, in both modes, and passes intact ones with trailing bytes', async () => {
    const root = join(base, 'formats');
    const source = sharp(readFileSync(new URL('./__fixtures__/image-folder/sandal/0.png', import.meta.url)));
    const encoded = {
      jpg: await source.clone().jpeg().toBuffer(),
      png: await source.clone().png().toBuffer(),
      webp: await source.clone().webp().toBuffer(),
      gif: await source.clone().gif().toBuffer(),
      avif: await source.clone().avif().toBuffer(),
      tif: await source.clone().tiff().toBuffer(),
    };
    const cut: string[] = [];
    for (const [format, bytes] of Object.entries(encoded)) {
      mkdirSync(join(root, format), { recursive: true });
      writeFileSync(join(root, format, 'intact.' + format), bytes);
      writeFileSync(join(root, format, 'trailing.' + format), Buffer.concat([bytes, Buffer.from('bytes after the end')]));
      for (const fraction of [0.3, 0.6, 0.95]) {
        cut.push(join(root, format, `cut-${fraction}.${format}`));
        writeFileSync(cut.at(-1)!, bytes.subarray(0, Math.floor(bytes.length * fraction)));
      }
    }
    const split = await loadClassificationSplit('image-folder', root, 'all');
    for (const decode of ['header', 'full'] as const) {
      const problems = await checkImages([split], { decode });
      expect(problems.map((problem) => problem.message.match(/cannot decode image: /) === null ? null : problem.file).sort()).toEqual([...cut].sort());
    }
  });


  it('reads the headers of loaded splits, each image once, and lists problems in split order whatever the concurrency', async () => {
    const root = join(base, 'headers');
    const synthetic = await writeSyntheticDataset('vtab-eurosat', root, { count: 6 });
    const splits = await Promise.all(['train800', 'val200', 'train800val200'].map((split) => loadClassificationSplit('vtab-eurosat', root, split)));
    expect(await checkImages(splits, { decode: 'header' })).toEqual([]);
    const victims = [synthetic.images[4]!, synthetic.images[1]!];
    for (const victim of victims) writeFileSync(victim, 'not an image');
    for (const concurrency of [1, 3]) {
      const problems = await checkImages(splits, { decode: 'header', concurrency });
      // Listed by train800 and again by train800val200, each is decoded and reported once, in split order.
      expect(problems.map((problem) => problem.message.match(/cannot decode image (\S+):/)?.[1])).toEqual([synthetic.images[1], synthetic.images[4]]);
    }
    await expect(checkImages(splits, { decode: 'none' as 'header' })).rejects.toThrow(/decode must be one of full, header, got "none"/);
  });
});


import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { writeImageFolder } from './__fixtures__/image-folder';
import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-data-'));

const run = runCli;

describe('visual-peft-bench data', () => {
  it('prints counts per split, the class count and no problems for a sound dataset', async () => {
    const root = join(directory, 'vtab-1k');
    await writeSyntheticDataset('vtab-cifar', root, { count: 3 });
    const { code, stdout, stderr } = await run('data', '--dataset', 'vtab-cifar', '--root', root);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    expect(stdout).toHaveLength(1);
    expect(JSON.parse(stdout[0]!)).toEqual({
      dataset: 'vtab-cifar',
      root,
      numClasses: 100,
      splits: { train800: 3, val200: 3, train800val200: 6, test: 3 },
      problems: [],
    });
  });

  it('checks an image folder as its train and val splits: a val/ folder, or --val-fraction drawn with --seed', async () => {
    const root = join(directory, 'fruit');
    const names = await writeImageFolder(root, undefined, 5);
    const drawn = await run('data', '--dataset', 'image-folder', '--root', root, '--val-fraction', '0.4', '--seed', '1');
    expect([drawn.code, JSON.parse(drawn.stdout[0]!)]).toEqual([0, { dataset: 'image-folder', root, numClasses: 3, splits: { train: 9, val: 6 }, problems: [] }]);
    expect(JSON.parse((await run('data', '--dataset', 'image-folder', '--root', root)).stdout[0]!).splits).toEqual({ all: 15 });
    await writeImageFolder(join(root, 'val'), names.slice(0, 2), 1);
    const missing = await run('data', '--dataset', 'image-folder', '--root', root);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout[0]!)).toMatchObject({ splits: { train: 15, val: 2 }, problems: [{ file: join(root, 'val'), line: null, message: `${join(root, 'val')}: has no folder for class cherry (every class needs validation images)` }] });
    const both = await run('data', '--dataset', 'image-folder', '--root', root, '--val-fraction', '0.4');
    expect(both.code).not.toBe(0);
    expect(both.stderr.at(-1)).toContain(`${join(root, 'val')} already holds the validation split`);
  });

  it('lists the problems with file and line and exits 1', async () => {
    const root = join(directory, 'cub');
    const synthetic = await writeSyntheticDataset('cub', root);
    const victim = synthetic.images[0]!;
    writeFileSync(victim, readFileSync(victim).subarray(0, 200));
    const { code, stdout, stderr } = await run('data', '--dataset', 'cub', '--root', root);
    expect(code).toBe(1);
    const report = JSON.parse(stdout[0]!);
    expect(report.splits).toEqual({ train: 200, val: 200, test: 200 });
    expect(report.numClasses).toBe(200);
    expect(report.problems).toEqual([{ file: join(root, 'train.json'), line: 1, message: expect.stringContaining(`cannot decode image ${victim}`) }]);
    expect(stderr).toEqual([`visual-peft-bench: data: 1 problem in ${root} (listed in the JSON on stdout)`]);
  });

  it('reports a missing dataset as problems, not as a crash', async () => {
    const root = join(directory, 'nothing');
    const { code, stdout } = await run('data', '--dataset', 'fashion-mnist', '--root', root, '--decode', 'none');
    expect(code).toBe(1);
    expect(JSON.parse(stdout[0]!).problems.map((problem: { message: string }) => problem.message)).toEqual([
      `${root}/train-images-idx3-ubyte(.gz): missing IDX file`,
      `${root}/train-labels-idx1-ubyte(.gz): missing IDX file`,
      `${root}/t10k-images-idx3-ubyte(.gz): missing IDX file`,
      `${root}/t10k-labels-idx1-ubyte(.gz): missing IDX file`,
    ]);
  });

  it('refuses bad command lines with exit code 2', async () => {
    expect((await run('data', '--root', directory)).stderr).toEqual(['visual-peft-bench: data: --dataset is required']);
    const unknown = await run('data', '--dataset', 'imagenet', '--root', directory);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr[0]).toMatch(/--dataset must be one of cub, nabirds, .*vtab-cifar, .*image-folder, got "imagenet"/);
    expect((await run('data', '--dataset', 'cub')).stderr).toEqual(['visual-peft-bench: data: --root is required']);
    expect((await run('data', '--dataset', 'cub', '--root', directory, '--decode', 'some')).stderr).toEqual([
      'visual-peft-bench: --decode must be one of full, header, none, got "some"',
    ]);
  });
});

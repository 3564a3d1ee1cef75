import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticDataset } from '@visual-peft/datasets';
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

import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import type { StateDict } from '@visual-peft/vit-core';
import { readCheckpoint, serializeSafetensors } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../run-cli';
import { snapshot, tinyVit } from './__fixtures__/suite-run';

// Every input is checked, and identified, before a command writes anything: run's suite.json, train's --out.
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-input-checks-'));
const data = join(directory, 'vtab-1k');
let images: string[] = [];

/** The fixture checkpoint with one element of one tensor replaced, written to `path`. */
async function writeChangedCheckpoint(path: string, key: string, value: number): Promise<void> {
  const { stateDict } = await readCheckpoint(tinyVit('tiny-vit.safetensors'));
  const changed: StateDict = new Map(stateDict);
  const tensor = stateDict.get(key)!;
  const values = Float32Array.from(tensor.data as Float32Array);
  values[0] = value;
  changed.set(key, { ...tensor, data: values });
  writeFileSync(path, serializeSafetensors(changed));
}

function writeSuite(name: string, lines: string[] = []): string {
  const path = join(directory, `${name}.yaml`);
  const base = ['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [linear]', 'seeds: [42]', 'epochs: 1', 'batchSize: 4', 'grid: { learningRates: [0.05], weightDecays: [0] }'];
  writeFileSync(path, [...base.filter((line) => !lines.some((own) => own.split(':')[0] === line.split(':')[0])), ...lines].join('\n'));
  return path;
}

const runArgs = (suite: string, out: string, root = data, ...extra: string[]) => ['run', '--suite', suite, '--data', root, '--out', out, '--backend', 'cpu', ...extra];

describe('inputs checked and identified before anything is written', () => {
  beforeAll(async () => {
    images = (await writeSyntheticDataset('vtab-eurosat', data, { count: 8 })).images;
  });

  it('run: a checkpoint or data swapped under the same names is refused with the first difference; the same bytes again resume', async () => {
    const weights = join(directory, 'swap', 'tiny-vit.safetensors');
    mkdirSync(join(directory, 'swap'));
    cpSync(tinyVit('tiny-vit.safetensors'), weights);
    const root = join(directory, 'swap-data');
    cpSync(data, root, { recursive: true });
    const suite = writeSuite('swap', ['backbones:', `  - { config: ${JSON.stringify(tinyVit('config.json'))}, weights: ${JSON.stringify(weights)} }`]);
    const out = join(directory, 'swap-store');
    const first = await runCli(...runArgs(suite, out, root));
    expect(first.code, first.stderr.join('\n')).toBe(0);
    const stored = JSON.parse(readFileSync(join(out, 'suite.json'), 'utf8'));
    expect(stored.suite.backbones[0]).toMatchObject({ name: 'tiny-vit', weights: 'tiny-vit.safetensors', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // 8 images each in train800, val200 and test (train800val200 lists the first two's) and the four split files.
    expect(stored.suite.tasks[0].data).toMatchObject({ files: 28, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const before = snapshot(out);

    await writeChangedCheckpoint(weights, 'cls_token', 0.5);
    const swapped = await runCli(...runArgs(suite, out, root));
    expect(swapped.code).toBe(1);
    expect(swapped.stderr.at(-1)).toMatch(/holds results of another suite configuration \(backbones\[0\]\.sha256: "[0-9a-f]{64}" there, "[0-9a-f]{64}" here\); give a new --out/);
    expect(snapshot(out)).toEqual(before);

    // The original bytes again (a new mtime): the same hash, the job already finished.
    copyFileSync(tinyVit('tiny-vit.safetensors'), weights);
    const again = await runCli(...runArgs(suite, out, root));
    expect(again.code, again.stderr.join('\n')).toBe(0);
    expect(JSON.parse(again.stdout.at(-1)!)).toMatchObject({ hash: JSON.parse(first.stdout.at(-1)!).hash, ran: 0, skipped: 1 });

    const image = join(root, relative(data, images[0]!));
    writeFileSync(image, Buffer.concat([readFileSync(image), Buffer.from([0])]));
    const resized = await runCli(...runArgs(suite, out, root));
    expect(resized.code).toBe(1);
    expect(resized.stderr.at(-1)).toMatch(/\(tasks\[0\]\.data\.bytes: (\d+) there, \d+ here\)/);
  });

  it('run: every checkpoint, every image header and the batch sizes are checked before suite.json is written', async () => {
    const nan = join(directory, 'nan', 'second.safetensors');
    mkdirSync(join(directory, 'nan'));
    cpSync(tinyVit('tiny-vit.safetensors'), join(directory, 'nan', 'first.safetensors'));
    await writeChangedCheckpoint(nan, 'blocks.0.mlp.fc1.bias', Number.NaN);
    const config = JSON.stringify(tinyVit('config.json'));
    const twoBackbones = writeSuite('two-backbones', ['backbones:', `  - { config: ${config}, weights: nan/first.safetensors }`, `  - { config: ${config}, weights: nan/second.safetensors }`]);
    const out = join(directory, 'never');
    const damaged = await runCli(...runArgs(twoBackbones, out));
    expect(damaged.code).toBe(1);
    expect(damaged.stderr.at(-1)).toBe(`visual-peft-bench: ${nan}: tensor blocks.0.mlp.fc1.bias holds 1 non-finite value (first: NaN at flat index 0); a checkpoint must hold finite weights`);
    expect(existsSync(out)).toBe(false);

    const wrongShape = writeSuite('wrong-shape', ['backbones:', `  - { config: ${JSON.stringify(join(directory, 'deeper.json'))}, weights: nan/first.safetensors }`]);
    writeFileSync(join(directory, 'deeper.json'), JSON.stringify({ ...JSON.parse(readFileSync(tinyVit('config.json'), 'utf8')), depth: 3 }));
    const mismatch = await runCli(...runArgs(wrongShape, out));
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr.at(-1)).toMatch(/first\.safetensors.*blocks\.2\./);
    expect(existsSync(out)).toBe(false);

    const good = writeSuite('good', ['backbones:', `  - { config: ${config}, weights: nan/first.safetensors }`]);
    const corrupt = join(directory, 'corrupt-data');
    cpSync(data, corrupt, { recursive: true });
    const victim = join(corrupt, relative(data, images.at(-1)!));
    writeFileSync(victim, 'not an image');
    const unreadable = await runCli(...runArgs(good, out, corrupt));
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr.at(-1)).toMatch(new RegExp(`^visual-peft-bench: ${corrupt}: 1 image cannot be read: .*cannot decode image ${victim}: .*\\(list them all with: visual-peft-bench data --dataset vtab-eurosat --root ${corrupt} --decode header\\)$`));
    expect(existsSync(out)).toBe(false);

    const large = writeSuite('large-batch', ['batchSize: 9', 'backbones:', `  - { config: ${config}, weights: nan/first.safetensors }`]);
    const batch = await runCli(...runArgs(large, out));
    expect(batch.code).toBe(1);
    expect(batch.stderr.at(-1)).toBe(
      "visual-peft-bench: batchSize of linear on task vtab-eurosat must be at most the train800 split's 8 images (a last partial batch is dropped, so a larger batch trains no step); set a smaller batchSize in the suite file, got 9",
    );
    expect(existsSync(out)).toBe(false);
  });

  const trainArgs = (out: string, ...extra: string[]) => [
    'train', '--backbone', tinyVit('config.json'), '--dataset', 'vtab-eurosat', '--method', 'linear', '--out', out, '--epochs', '1', '--batch-size', '4', '--backend', 'cpu', ...extra,
  ];

  it('train: the data, the batch size and the checkpoint are checked before --out is made', async () => {
    const out = join(directory, 'train-never');
    const corrupt = join(directory, 'train-corrupt');
    cpSync(data, corrupt, { recursive: true });
    // An image of the evaluation split: without the check, training would run a whole epoch before reading it.
    const victim = join(corrupt, relative(data, images.find((image) => image.includes('val200'))!));
    writeFileSync(victim, 'not an image');
    const unreadable = await runCli(...trainArgs(out, '--root', corrupt, '--weights', tinyVit('tiny-vit.safetensors')));
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr.at(-1)).toMatch(new RegExp(`cannot decode image ${victim}`));
    expect(existsSync(out)).toBe(false);

    const batch = await runCli(...trainArgs(out, '--root', data, '--weights', tinyVit('tiny-vit.safetensors'), '--batch-size', '9'));
    expect(batch.code).toBe(2);
    expect(batch.stderr.at(-1)).toBe("visual-peft-bench: --batch-size must be at most the train800 split's 8 images (a last partial batch is dropped, so a larger batch trains no step), got 9");
    expect(existsSync(out)).toBe(false);

    const nan = join(directory, 'train-nan.safetensors');
    await writeChangedCheckpoint(nan, 'norm.weight', Number.POSITIVE_INFINITY);
    const damaged = await runCli(...trainArgs(out, '--root', data, '--weights', nan));
    expect(damaged.code).toBe(1);
    expect(damaged.stderr.at(-1)).toBe(`visual-peft-bench: ${nan}: tensor norm.weight holds 1 non-finite value (first: Infinity at flat index 0); a checkpoint must hold finite weights`);
    expect(existsSync(out)).toBe(false);
  });

  it('data --decode header, train and run refuse a JPEG or PNG cut short at any point before anything is written; bytes after its end pass', async () => {
    const png = readFileSync(fileURLToPath(new URL('../../../../packages/datasets/src/__fixtures__/image-folder/sandal/0.png', import.meta.url)));
    const jpeg = readFileSync(images.find((image) => image.includes('val200'))!);
    const config = JSON.stringify(tinyVit('config.json'));
    const suite = writeSuite('cut-images', ['backbones:', `  - { config: ${config}, weights: ${JSON.stringify(tinyVit('tiny-vit.safetensors'))} }`]);
    const out = join(directory, 'cut-never');
    let root = 0;
    for (const [format, bytes] of [['jpeg', jpeg], ['png', png]] as const) {
      for (const length of [40, Math.floor(bytes.length / 2), bytes.length - 1]) {
        const cut = join(directory, `cut-${format}-${root++}`);
        cpSync(data, cut, { recursive: true });
        // An image of the evaluation split (VTAB lists .jpg names; the decoder goes by the bytes).
        const victim = join(cut, relative(data, images.find((image) => image.includes('val200'))!));
        writeFileSync(victim, bytes.subarray(0, length));
        // Cut inside its header, sharp's header read refuses it; after, the check of the file's end.
        const problem = new RegExp(`cannot decode image ${victim}: ${length === 40 ? '' : 'cut short: '}`);
        const checked = await runCli('data', '--dataset', 'vtab-eurosat', '--root', cut, '--decode', 'header');
        expect([format, length, checked.code]).toEqual([format, length, 1]);
        expect(JSON.parse(checked.stdout[0]!).problems).toEqual([expect.objectContaining({ message: expect.stringMatching(problem) })]);
        for (const args of [trainArgs(out, '--root', cut, '--weights', tinyVit('tiny-vit.safetensors')), runArgs(suite, out, cut)]) {
          const refused = await runCli(...args);
          expect([format, length, args[0], refused.code]).toEqual([format, length, args[0], 1]);
          expect(refused.stderr.at(-1)).toMatch(problem);
          expect(existsSync(out)).toBe(false);
        }
      }
    }
    const trailing = join(directory, 'trailing-bytes');
    cpSync(data, trailing, { recursive: true });
    const [first, second] = images.filter((image) => image.includes('val200')).map((image) => join(trailing, relative(data, image)));
    writeFileSync(first!, Buffer.concat([jpeg, Buffer.from('bytes a camera wrote after the end of the image')]));
    writeFileSync(second!, Buffer.concat([png, Buffer.from('bytes after IEND')]));
    const checked = await runCli('data', '--dataset', 'vtab-eurosat', '--root', trailing, '--decode', 'header');
    expect([checked.code, JSON.parse(checked.stdout[0]!).problems]).toEqual([0, []]);
    const trained = await runCli(...trainArgs(join(directory, 'trailing-out'), '--root', trailing, '--weights', tinyVit('tiny-vit.safetensors')));
    expect(trained.code, trained.stderr.join('\n')).toBe(0);
  });

  it('train: resuming --out with another checkpoint under the same name is refused', async () => {
    const weights = join(directory, 'train-swap', 'tiny-vit.safetensors');
    mkdirSync(join(directory, 'train-swap'));
    cpSync(tinyVit('tiny-vit.safetensors'), weights);
    const out = join(directory, 'train-swap-out');
    const first = await runCli(...trainArgs(out, '--root', data, '--weights', weights));
    expect(first.code, first.stderr.join('\n')).toBe(0);
    await writeChangedCheckpoint(weights, 'cls_token', 0.5);
    const swapped = await runCli(...trainArgs(out, '--root', data, '--weights', weights));
    expect(swapped.code).toBe(1);
    expect(swapped.stderr.at(-1)).toMatch(/^visual-peft-bench: outputDir holds a checkpoint of another run \(inputs\.weights: "[0-9a-f]{64}" in the checkpoint, "[0-9a-f]{64}" now\); give a new outputDir/);
  });
});

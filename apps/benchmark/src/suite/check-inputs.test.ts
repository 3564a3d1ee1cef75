import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadClassificationSplit, writeSyntheticDataset } from '@visual-peft/datasets';
import { CheckpointMismatchError, readCheckpoint, resolveVitConfig } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { DataCheckError, batchSizeRule, checkBackboneCheckpoint, checkBackboneWeights, checkSplitImages } from './check-inputs';

const tinyVit = (name: string) => fileURLToPath(new URL(`../../../../packages/vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-check-inputs-'));
const tinyConfig = resolveVitConfig({ imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 4, numClasses: 10 });

describe('checkBackboneWeights', () => {
  it('passes the fixture checkpoint as every job setup loads it, and frees every tensor it builds', async () => {
    const { stateDict } = await readCheckpoint(tinyVit('tiny-vit.safetensors'));
    const before = tf.memory().numTensors;
    checkBackboneWeights(tinyConfig, stateDict, 'tiny.safetensors', [{ fcNorm: 'checkpoint' }, { fcNorm: 'fresh', globalPool: 'avg', fcNormLayer: true }, { fcNorm: 'checkpoint' }]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses shapes that do not fit the config', async () => {
    const { stateDict } = await readCheckpoint(tinyVit('tiny-vit.safetensors'));
    const before = tf.memory().numTensors;
    expect(() => checkBackboneWeights({ ...tinyConfig, depth: 3 }, stateDict, 'w.safetensors', [{ fcNorm: 'checkpoint' }])).toThrow(CheckpointMismatchError);
    expect(() => checkBackboneWeights({ ...tinyConfig, embedDim: 64, numHeads: 4 }, stateDict, 'w.safetensors', [{ fcNorm: 'checkpoint' }])).toThrow(/w\.safetensors/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('checkBackboneCheckpoint', () => {
  it('reads and checks one checkpoint and returns the SHA-256 of its bytes, freeing every tensor it builds', async () => {
    const path = tinyVit('tiny-vit.safetensors');
    const before = tf.memory().numTensors;
    expect(await checkBackboneCheckpoint(tinyConfig, path, [{ fcNorm: 'checkpoint' }])).toBe(createHash('sha256').update(readFileSync(path)).digest('hex'));
    await expect(checkBackboneCheckpoint({ ...tinyConfig, depth: 3 }, path, [{ fcNorm: 'checkpoint' }])).rejects.toThrow(CheckpointMismatchError);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('checkSplitImages', () => {
  it('reads every image header and refuses the root with the first problems and the command that lists them all', async () => {
    const root = join(directory, 'vtab');
    const synthetic = await writeSyntheticDataset('vtab-eurosat', root, { count: 4 });
    const splits = [await loadClassificationSplit('vtab-eurosat', root, 'train800'), await loadClassificationSplit('vtab-eurosat', root, 'val200')];
    await checkSplitImages(root, splits, 'data');
    const victim = synthetic.images.find((image) => image.includes('val200'))!;
    writeFileSync(victim, 'not an image');
    const error = await checkSplitImages(root, splits, 'visual-peft-bench data --dataset vtab-eurosat --root R').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DataCheckError);
    expect((error as Error).message).toMatch(new RegExp(`^${root}: 1 image cannot be read: .*val200.*: cannot decode image ${victim}: .* \\(list them all with: visual-peft-bench data --dataset vtab-eurosat --root R --decode header\\)$`));
  });
});

describe('batchSizeRule', () => {
  it('allows a batch up to the split size: a larger one would train no step', () => {
    const split = { split: 'train800', examples: [1, 2, 3] };
    expect(batchSizeRule(3, split)).toBeNull();
    expect(batchSizeRule(4, split)).toBe("must be at most the train800 split's 3 images (a last partial batch is dropped, so a larger batch trains no step)");
  });
});

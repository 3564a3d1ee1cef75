import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError } from '@visual-peft/vit-core';
import type { HostTensor } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { useTemporaryDirectory } from './__fixtures__/temporary-directory';
import { readTrainingCheckpoint, writeTrainingCheckpoint } from './training-checkpoint';
import { CHECKPOINT_FILE } from './trainer-store';

const directory = useTemporaryDirectory();

function tensors(value: number): Map<string, HostTensor> {
  return new Map<string, HostTensor>([
    ['model/a', { dtype: 'float32', shape: [2], data: Float32Array.of(value, -value) }],
    ['optimizer/steps', { dtype: 'int32', shape: [1], data: Int32Array.of(value) }],
  ]);
}

describe('training checkpoints', () => {
  it('round-trip a record and tensors; none in an empty directory', async () => {
    expect(await readTrainingCheckpoint(directory.path)).toBeNull();
    const path = await writeTrainingCheckpoint(directory.path, '000000004', { record: { epoch: 1, note: 'x' }, tensors: tensors(1.5) });
    expect(path).toBe(join(directory.path, CHECKPOINT_FILE));
    const read = await readTrainingCheckpoint(directory.path);
    expect(read!.record).toEqual({ epoch: 1, note: 'x' });
    expect([...read!.tensors.keys()].sort()).toEqual(['model/a', 'optimizer/steps']);
    expect(Array.from(read!.tensors.get('model/a')!.data)).toEqual([1.5, -1.5]);
  });

  it('commit with the JSON file and leave one tensor file, the one it names', async () => {
    await writeTrainingCheckpoint(directory.path, '000000004', { record: { epoch: 1 }, tensors: tensors(1) });
    await writeTrainingCheckpoint(directory.path, '000000008', { record: { epoch: 2 }, tensors: tensors(2) });
    expect((await readdir(directory.path)).sort()).toEqual(['checkpoint-000000008.safetensors', CHECKPOINT_FILE]);
    const read = await readTrainingCheckpoint(directory.path);
    expect(read!.record.epoch).toBe(2);
    expect(Array.from(read!.tensors.get('optimizer/steps')!.data)).toEqual([2]);
  });

  it('refuse a broken JSON file, another format, an odd tensor file name and a missing tensor file', async () => {
    const jsonPath = join(directory.path, CHECKPOINT_FILE);
    const attempts: [string, RegExp][] = [
      ['{ not json', /is not valid JSON/],
      ['[1]', /must hold a JSON object/],
      ['{"format": "other", "version": 1}', /is not a version-1 visual-peft-training-checkpoint/],
      ['{"format": "visual-peft-training-checkpoint", "version": 1, "tensors": "../x.safetensors"}', /must name its tensor file/],
      ['{"format": "visual-peft-training-checkpoint", "version": 1, "tensors": "checkpoint-1.safetensors"}', /checkpoint-1\.safetensors: no such file/],
    ];
    for (const [text, message] of attempts) {
      await writeFile(jsonPath, text);
      const error = await readTrainingCheckpoint(directory.path).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(message);
    }
    await expect(writeTrainingCheckpoint(directory.path, '../up', { record: {}, tensors: tensors(1) })).rejects.toBeInstanceOf(FormatError);
  });
});

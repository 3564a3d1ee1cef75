import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { readCheckpoint } from '../files';
import { readFixture } from './__fixtures__/fixtures';
import { checkFinite } from './finite';
import type { StateDict } from './host-tensor';
import { serializeSafetensors } from './safetensors';

function stateDict(values: readonly number[]): StateDict {
  return new Map([
    ['cls_token', { dtype: 'float32', shape: [1, 1, 2], data: new Float32Array([0.5, -1]) }],
    ['blocks.0.norm1.weight', { dtype: 'float32', shape: [values.length], data: new Float32Array(values) }],
    ['steps', { dtype: 'int32', shape: [1], data: new Int32Array([7]) }],
  ]);
}

describe('checkFinite', () => {
  it('passes finite weights, the largest float32 and -0 included', () => {
    expect(() => checkFinite(stateDict([3.4028234663852886e38, -3.4028234663852886e38, -0, 1e-45]), 'w.safetensors')).not.toThrow();
  });

  it.each([
    [[1, Number.NaN, 2], /^w\.safetensors: tensor blocks\.0\.norm1\.weight holds 1 non-finite value \(first: NaN at flat index 1\); a checkpoint must hold finite weights$/],
    [[1, 2, Number.POSITIVE_INFINITY, Number.NaN], /holds 2 non-finite values \(first: Infinity at flat index 2\)/],
    [[Number.NEGATIVE_INFINITY], /holds 1 non-finite value \(first: -Infinity at flat index 0\)/],
  ])('refuses %o naming the tensor and the first bad index', (values, message) => {
    expect(() => checkFinite(stateDict(values), 'w.safetensors')).toThrow(FormatError);
    expect(() => checkFinite(stateDict(values), 'w.safetensors')).toThrow(message);
  });
});

describe('readCheckpoint refuses non-finite weights', () => {
  const directory = mkdtempSync(join(tmpdir(), 'vit-core-finite-'));

  it('in a .safetensors file', async () => {
    const path = join(directory, 'nan.safetensors');
    writeFileSync(path, serializeSafetensors(stateDict([1, Number.NaN])));
    await expect(readCheckpoint(path)).rejects.toThrow(`${path}: tensor blocks.0.norm1.weight holds 1 non-finite value (first: NaN at flat index 1)`);
  });

  it("in a Google .npz (named by timm's key, after conversion)", async () => {
    // google-vit-tiny.npz with the last two values of encoderblock_0/LayerNorm_0/scale set to NaN and Infinity.
    const path = join(directory, 'nan.npz');
    writeFileSync(path, readFixture('google-vit-tiny-nan.npz'));
    await expect(readCheckpoint(path)).rejects.toThrow(/nan\.npz: tensor blocks\.0\.norm1\.weight holds 2 non-finite values \(first: NaN at flat index 6\)/);
    writeFileSync(join(directory, 'clean.npz'), readFixture('google-vit-tiny.npz'));
    await expect(readCheckpoint(join(directory, 'clean.npz'))).resolves.toBeDefined();
  });
});

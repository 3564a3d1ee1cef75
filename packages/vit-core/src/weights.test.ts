import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateDict } from './checkpoint/host-tensor';
import { CheckpointMismatchError, FileWriteError, FormatError } from './errors';
import { loadCheckpoint, readCheckpoint, removeStaleTempFiles, saveCheckpoint, writeFileAtomic } from './files';
import { VisionTransformer } from './vision-transformer';
import { getStateDict, loadStateDict } from './weights';

const TINY = { imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 4, numClasses: 10 } as const;

function logitsOf(model: VisionTransformer, input: tf.Tensor4D): Float32Array {
  return tf.tidy(() => model.forward(input).dataSync() as Float32Array);
}

describe('loading and saving weights', () => {
  let source: VisionTransformer;
  let input: tf.Tensor4D;
  let directory: string;

  beforeAll(() => {
    source = new VisionTransformer(TINY, { seed: 42 });
    input = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 5);
    directory = mkdtempSync(join(tmpdir(), 'vit-core-'));
  });
  afterAll(() => {
    source.dispose();
    input.dispose();
  });

  it('a state dict round-trips into a fresh model with identical logits', () => {
    const copy = new VisionTransformer(TINY, { seed: 7 });
    loadStateDict(copy, getStateDict(source));
    expect(logitsOf(copy, input)).toEqual(logitsOf(source, input));
    copy.dispose();
  });

  it('a safetensors file round-trips through saveCheckpoint and loadCheckpoint', async () => {
    const path = join(directory, 'tiny.safetensors');
    await saveCheckpoint(source, path, { note: 'test' });
    const { metadata } = await readCheckpoint(path);
    expect(metadata).toEqual({ format: 'pt', note: 'test' });
    const copy = new VisionTransformer(TINY, { weights: 'zeros' });
    await loadCheckpoint(copy, path);
    expect(logitsOf(copy, input)).toEqual(logitsOf(source, input));
    copy.dispose();
  });

  it('lists every missing, unexpected and wrong-shaped key at once and writes nothing', () => {
    const stateDict: StateDict = new Map(getStateDict(source));
    stateDict.delete('blocks.1.norm2.bias');
    stateDict.delete('cls_token');
    stateDict.set('blocks.7.extra', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    stateDict.set('blocks.0.mlp.fc1.weight', { dtype: 'float32', shape: [64, 32], data: new Float32Array(64 * 32) });
    const target = new VisionTransformer(TINY, { weights: 'zeros' });
    const before = logitsOf(target, input);
    let error: CheckpointMismatchError | undefined;
    try {
      loadStateDict(target, stateDict, { source: 'broken.safetensors' });
    } catch (caught) {
      error = caught as CheckpointMismatchError;
    }
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect(error!.missing).toEqual(['cls_token', 'blocks.1.norm2.bias']);
    expect(error!.unexpected).toEqual(['blocks.7.extra']);
    expect(error!.mismatched).toEqual([{ key: 'blocks.0.mlp.fc1.weight', expected: [128, 32], found: [64, 32] }]);
    expect(error!.message).toMatch(/^broken\.safetensors does not fit the model: missing keys: cls_token, blocks\.1\.norm2\.bias; unexpected keys: blocks\.7\.extra; wrong shapes: blocks\.0\.mlp\.fc1\.weight expected \[128, 32\] found \[64, 32\]$/);
    expect(logitsOf(target, input)).toEqual(before);
    target.dispose();
  });

  it("head 'discard' takes a checkpoint whose head has another class count; 'load' refuses it", () => {
    const other = new VisionTransformer({ ...TINY, numClasses: 21 }, { seed: 1 });
    const stateDict = getStateDict(other);
    stateDict.set('pre_logits.fc.weight', { dtype: 'float32', shape: [32, 32], data: new Float32Array(32 * 32) });
    const target = new VisionTransformer(TINY, { seed: 3 });
    const head = target.head!.weight.variable.dataSync().slice();
    expect(() => loadStateDict(target, stateDict)).toThrow(/wrong shapes: head\.weight expected \[10, 32\] found \[21, 32\]/);
    const report = loadStateDict(target, stateDict, { head: 'discard' });
    expect(report.ignored).toEqual(['head.weight', 'head.bias', 'pre_logits.fc.weight']);
    expect(target.head!.weight.variable.dataSync()).toEqual(head);
    expect(target.parameter('blocks.0.attn.qkv.weight').variable.dataSync()).toEqual(other.parameter('blocks.0.attn.qkv.weight').variable.dataSync());
    other.dispose();
    target.dispose();
  });

  it("fcNorm: 'from-norm' reads the checkpoint's final norm after pooling, 'fresh' keeps gamma 1 and beta 0", () => {
    const stateDict = getStateDict(source); // token-pooling layout: has norm.*, no fc_norm.*
    const avgConfig = { ...TINY, globalPool: 'avg' } as const;
    const fromNorm = new VisionTransformer(avgConfig, { weights: 'zeros' });
    loadStateDict(fromNorm, stateDict, { fcNorm: 'from-norm' });
    expect(fromNorm.fcNorm!.weight.variable.dataSync()).toEqual(source.norm!.weight.variable.dataSync());
    const fresh = new VisionTransformer(avgConfig, { seed: 9 });
    const report = loadStateDict(fresh, stateDict, { fcNorm: 'fresh' });
    expect(report.ignored).toEqual(['norm.weight', 'norm.bias']);
    expect(Array.from(fresh.fcNorm!.weight.variable.dataSync())).toEqual(new Array(32).fill(1));
    expect(() => loadStateDict(new VisionTransformer(avgConfig, { weights: 'zeros' }), stateDict)).toThrow(
      /missing keys: fc_norm\.weight, fc_norm\.bias; unexpected keys: norm\.weight, norm\.bias/,
    );
    fromNorm.dispose();
    fresh.dispose();
  });

  it('refuses a pos_embed of another grid when resampling is turned off', () => {
    const larger = new VisionTransformer({ ...TINY, imgSize: 48 }, { weights: 'zeros' });
    expect(() => loadStateDict(larger, getStateDict(source), { resamplePosEmbed: false })).toThrow(
      /pos_embed expected \[1, 37, 32\] found \[1, 17, 32\]/,
    );
    larger.dispose();
  });

  it('refuses PyTorch pickles, unknown extensions and missing files with the path in the message', async () => {
    await expect(readCheckpoint(join(directory, 'mae_pretrain_vit_base.pth'))).rejects.toThrow(/convert_torch_checkpoint\.py/);
    await expect(readCheckpoint(join(directory, 'weights.h5'))).rejects.toThrow(FormatError);
    await expect(readCheckpoint(join(directory, 'absent.safetensors'))).rejects.toThrow(/absent\.safetensors: no such file/);
  });

  it('writeFileAtomic replaces the file whole and leaves no temporary file', async () => {
    const path = join(directory, 'results.json');
    writeFileSync(path, 'old');
    await writeFileAtomic(path, 'new content');
    expect(readdirSync(directory).filter((name) => name.includes('results'))).toEqual(['results.json']);
    expect(existsSync(path)).toBe(true);
  });

  it('writeFileAtomic creates missing parent folders, and a failure names the target, not a temporary file', async () => {
    const path = join(directory, 'new', 'nested', 'weights.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(readdirSync(join(directory, 'new', 'nested'))).toEqual(['weights.bin']);
    const blocked = join(directory, 'new', 'nested', 'weights.bin', 'below.bin');
    const error = await writeFileAtomic(blocked, 'x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FileWriteError);
    expect((error as FileWriteError).message).toMatch(
      new RegExp(`^${blocked.replace(/[.]/g, '\\.')}: cannot be written: .* \\((ENOTDIR|EEXIST)\\); choose a path whose parents are folders, or move the file away$`),
    );
    expect((error as FileWriteError).message).not.toMatch(/\.tmp/);
  });

  it('removeStaleTempFiles removes only writeFileAtomic temporary names, in subfolders too, without following links', async () => {
    const root = join(directory, 'sweep');
    const outside = join(directory, 'sweep-outside');
    mkdirSync(join(root, 'work', 'job'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    const stale = [join(root, '.result.json.0123456789ab.tmp'), join(root, 'work', 'job', '.checkpoint.safetensors.a1b2c3d4e5f6.tmp')];
    stale.forEach((path, index) => writeFileSync(path, 'x'.repeat(10 * (index + 1))));
    const kept = ['result.json', '.result.json.tmp', '.result.json.0123456789AB.tmp', 'result.json.0123456789ab.tmp', '.result.json.0123456789ab.tmp.keep', '.r.0123456789abc.tmp'];
    kept.forEach((name) => writeFileSync(join(root, name), 'keep'));
    writeFileSync(join(outside, '.linked.0123456789ab.tmp'), 'outside');
    symlinkSync(outside, join(root, 'linked'));
    const removed = await removeStaleTempFiles(root);
    expect([...removed.paths].sort()).toEqual([...stale].sort());
    expect(removed.bytes).toBe(30);
    expect(readdirSync(root).sort()).toEqual([...kept, 'linked', 'work'].sort());
    expect(readdirSync(join(root, 'work', 'job'))).toEqual([]);
    expect(existsSync(join(outside, '.linked.0123456789ab.tmp'))).toBe(true);
    expect(await removeStaleTempFiles(join(directory, 'absent'))).toEqual({ paths: [], bytes: 0 });
  });
});

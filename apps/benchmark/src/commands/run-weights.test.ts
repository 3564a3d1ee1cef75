import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeSyntheticDataset } from '@visual-peft/datasets';
import { VisionTransformer, loadStateDict, parseNpy, parseSafetensors, serializeNpy } from '@visual-peft/vit-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBackbone } from '../backbone';
import { runCli } from '../run-cli';
import { storedResults, suiteRunArgs, tinyVit } from './__fixtures__/suite-run';

const directory = mkdtempSync(join(tmpdir(), 'visual-peft-bench-run-weights-'));
const data = join(directory, 'vtab-1k');
const id = (method: string) => `tiny-vit__vtab-eurosat__${method}__seed42`;

/** LoRA (folds into the backbone) and SCT (official names): one epoch on a one-point grid each. */
function writeSuite(): string {
  const path = join(directory, 'suite.yaml');
  writeFileSync(
    path,
    ['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [lora, sct]', 'seeds: [42]', 'epochs: 1', 'batchSize: 4', 'grid: { learningRates: [0.05], weightDecays: [0] }', 'options:', '  sct: { k: 4 }'].join('\n'),
  );
  return path;
}

const readNpy = (path: string) => parseNpy(new Uint8Array(readFileSync(path)), path);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((max, value, index) => Math.max(max, Math.abs(value - b[index]!)), 0);

describe('a suite store keeps each job’s tuned weights', () => {
  let out: string;
  let batch: string;

  beforeAll(async () => {
    await writeSyntheticDataset('vtab-eurosat', data, { count: 8 });
    out = join(directory, 'store');
    const { code, stderr } = await runCli(...suiteRunArgs(data, writeSuite(), out));
    expect(code, stderr.join('\n')).toBe(0);
    batch = join(directory, 'batch.npy');
    const images = tf.tidy(() => tf.randomNormal([3, 3, 32, 32], 0, 1, 'float32', 5).dataSync() as Float32Array);
    writeFileSync(batch, serializeNpy({ dtype: 'float32', shape: [3, 3, 32, 32], data: images }));
  });

  it('writes tuned.safetensors, tuned.json and job.json under weights/<job id>, and the record points there', () => {
    const records = storedResults(out);
    for (const method of ['lora', 'sct']) {
      const record = records.get(id(method))!;
      expect(record.weights).toBe(`weights/${id(method)}`);
      const folder = join(out, record.weights!);
      const manifest = JSON.parse(readFileSync(join(folder, 'tuned.json'), 'utf8'));
      // What train writes: the method, the head of the task's classes, the backbone it was tuned on.
      expect(manifest).toMatchObject({ methods: [{ name: method }], numClasses: 10, backboneInit: { weights: tinyVit('tiny-vit.safetensors'), fcNorm: 'checkpoint' } });
      expect(existsSync(join(folder, 'tuned.safetensors'))).toBe(true);
      expect(JSON.parse(readFileSync(join(folder, 'job.json'), 'utf8'))).toEqual({
        job: id(method),
        task: 'vtab-eurosat',
        dataset: 'vtab-eurosat',
        // SCT's recipe reads VTAB through its own test pipeline.
        evalPipeline: method === 'sct' ? 'vtab-sct-test' : 'vtab',
      });
    }
    expect(existsSync(join(out, 'work', id('lora')))).toBe(false);
  });

  it('predict --run and export --run read a job’s folder: the folded export gives predict’s logits', async () => {
    const folder = join(out, 'weights', id('lora'));
    const logits = join(directory, 'lora-logits.npy');
    const predicted = await runCli('predict', '--run', folder, batch, '--out', logits, '--backend', 'cpu');
    expect(predicted.code, predicted.stderr.join('\n')).toBe(0);
    const lines = await runCli('predict', '--run', folder, batch, '--top-k', '2', '--backend', 'cpu');
    expect(lines.stdout).toHaveLength(3);
    expect(JSON.parse(lines.stdout[0]!)).toMatchObject({ image: `${batch}[0]`, top: [{ probability: expect.any(Number) }, { probability: expect.any(Number) }] });

    // No --weights: export rebuilds the backbone the job recorded.
    const model = join(directory, 'lora-model.safetensors');
    const exported = await runCli('export', '--run', folder, '--out', model, '--backend', 'cpu');
    expect(exported.code, exported.stderr.join('\n')).toBe(0);
    const plain = new VisionTransformer(await resolveBackbone(tinyVit('config.json'), { numClasses: 10 }), { weights: 'zeros' });
    loadStateDict(plain, parseSafetensors(new Uint8Array(readFileSync(model)), model).tensors);
    const input = readNpy(batch);
    const folded = tf.tidy(() => plain.forward(tf.tensor4d(input.data as Float32Array, [3, 3, 32, 32])).dataSync() as Float32Array);
    plain.dispose();
    expect(maxDiff(folded, readNpy(logits).data as Float32Array)).toBeLessThan(2e-5);

    const official = join(directory, 'sct-official.safetensors');
    const sct = await runCli('export', '--run', join(out, 'weights', id('sct')), '--out', official);
    expect(sct.code, sct.stderr.join('\n')).toBe(0);
    expect([...parseSafetensors(new Uint8Array(readFileSync(official)), official).tensors.keys()]).toContain('blocks.0.sct_attn.channel_index');
  });

  it('merge carries the weights with the records; --no-weights keeps none', async () => {
    const merged = join(directory, 'merged');
    expect((await runCli('merge', '--out', merged, out)).code).toBe(0);
    expect(readFileSync(join(merged, 'weights', id('lora'), 'tuned.safetensors'))).toEqual(readFileSync(join(out, 'weights', id('lora'), 'tuned.safetensors')));

    const bare = join(directory, 'bare');
    const { code } = await runCli(...suiteRunArgs(data, writeSuite(), bare, '--only', id('lora'), '--no-weights'));
    expect(code).toBe(0);
    expect(storedResults(bare).get(id('lora'))!.weights).toBeUndefined();
    expect(existsSync(join(bare, 'weights'))).toBe(false);
  });
});

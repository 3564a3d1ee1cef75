import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { VisionTransformer, fromHostTensor, loadStateDict, parseNpy, parseSafetensors } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { foldedStateDict } from './fold';
import { createLora } from './lora';
import { createSsf } from './ssf';

// tooling/reference/check_export.py wrote these: the methods' parameters it drew, the logits of its
// PyTorch ViT with LoRA and SSF attached, and of its plain ViT loading our export.
const fixture = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`./__fixtures__/export/${name}`, import.meta.url))));
const tiny = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`../../vit-core/src/__fixtures__/tiny-vit/${name}`, import.meta.url))));

describe('foldedStateDict against the PyTorch reference', () => {
  it('gives the logits PyTorch computes with LoRA and SSF attached, from a plain ViT that loads the export', () => {
    const tensorsBefore = tf.memory().numTensors;
    const config = JSON.parse(new TextDecoder().decode(tiny('config.json'))) as Record<string, unknown>;
    const model = new VisionTransformer(config, { weights: 'zeros' });
    loadStateDict(model, parseSafetensors(tiny('tiny-vit.safetensors')).tensors);
    const saved = parseSafetensors(fixture('methods.safetensors')).tensors;
    const methods = [createLora(model, { rank: 2, alpha: 3 }), createSsf(model)];
    for (const method of methods) {
      const prefix = `${method.name}/`;
      const weights = new Map([...saved].filter(([key]) => key.startsWith(prefix)).map(([key, host]) => [key.slice(prefix.length), fromHostTensor(host)]));
      method.loadWeights(weights);
      tf.dispose([...weights.values()]);
      model.attach(method);
    }
    const images = fromHostTensor(parseNpy(tiny('inputs.npy'))) as tf.Tensor4D;
    const attached = parseNpy(fixture('logits-attached.npy')).data;
    const exportedInTorch = parseNpy(fixture('logits-exported.npy')).data;
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((max, value, index) => Math.max(max, Math.abs(value - b[index]!)), 0);

    const ours = tf.tidy(() => model.forward(images).dataSync());
    expect(maxDiff(ours, attached)).toBeLessThan(1e-5);

    const plain = new VisionTransformer(config, { weights: 'zeros' });
    loadStateDict(plain, foldedStateDict(model));
    const folded = tf.tidy(() => plain.forward(images).dataSync());
    expect(maxDiff(folded, attached)).toBeLessThan(1e-5);
    // PyTorch read the export that this code writes: the same function, both sides.
    expect(maxDiff(folded, exportedInTorch)).toBeLessThan(1e-5);
    expect(maxDiff(exportedInTorch, attached)).toBeLessThan(1e-5);
    // The methods matter: without them the logits move by order 1.
    const pretrained = tf.tidy(() => model.disableExtensions(() => model.forward(images)).dataSync());
    expect(maxDiff(pretrained, attached)).toBeGreaterThan(0.1);

    methods.forEach((method) => {
      model.detach(method);
      method.dispose();
    });
    tf.dispose(images);
    model.dispose();
    plain.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});

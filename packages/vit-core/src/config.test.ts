import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { VitConfigInput } from './config';
import { VIT_PRESETS, resolveVitConfig, vitParameterCount, vitParameterShapes, vitPreset } from './config';
import { ConfigError } from './errors';
import { countParameters } from './trainable';
import { VisionTransformer } from './vision-transformer';

const TINY: VitConfigInput = { imgSize: 32, patchSize: 16, embedDim: 32, depth: 2, numHeads: 2, numClasses: 3 };

describe('resolveVitConfig', () => {
  it("fills timm's defaults", () => {
    expect(resolveVitConfig(TINY)).toMatchObject({ imgSize: [32, 32], inChans: 3, mlpRatio: 4, globalPool: 'token', fcNorm: false, layerNormEps: 1e-6, dropPathRate: 0 });
    expect(resolveVitConfig({ ...TINY, imgSize: [16, 48], globalPool: 'avg' })).toMatchObject({ imgSize: [16, 48], fcNorm: true });
  });

  it.each([
    [{ heads: 2 }, 'backbone.heads', /^backbone\.heads is not an option \(options: imgSize, patchSize, .*\), got 2$/],
    [{ imgSize: 0 }, 'imgSize', /^imgSize must be an integer >= 1 or a pair of them, got 0$/],
    [{ imgSize: [32] }, 'imgSize', /^imgSize must be an integer >= 1 or a pair of them, got \[32\]$/],
    [{ imgSize: 40 }, 'imgSize', /^imgSize must be a multiple of patchSize \(16\), got \[40, 40\]$/],
    [{ patchSize: 0 }, 'patchSize', /^patchSize must be an integer >= 1, got 0$/],
    [{ inChans: 1.5 }, 'inChans', /^inChans must be an integer >= 1, got 1.5$/],
    [{ numClasses: -1 }, 'numClasses', /^numClasses must be an integer >= 0, got -1$/],
    [{ embedDim: 0 }, 'embedDim', /^embedDim must be an integer >= 1, got 0$/],
    [{ depth: 0 }, 'depth', /^depth must be an integer >= 1, got 0$/],
    [{ numHeads: 3 }, 'numHeads', /^numHeads must divide embedDim \(32\), got 3$/],
    [{ mlpRatio: 0 }, 'mlpRatio', /^mlpRatio must be positive/],
    [{ globalPool: 'max' }, 'globalPool', /^globalPool must be one of token, avg, got "max"$/],
    [{ classToken: false }, 'globalPool', /^globalPool must be 'avg' when classToken is false, got "token"$/],
    [{ layerNormEps: 0 }, 'layerNormEps', /^layerNormEps must be a finite number > 0, got 0$/],
    [{ dropPathRate: 1 }, 'dropPathRate', /^dropPathRate must be a finite number in \[0, 1\), got 1$/],
    [{ posEmbedInterpolation: 'nearest' }, 'posEmbedInterpolation', /^posEmbedInterpolation must be one of bicubic, bilinear, got "nearest"$/],
    // JSON's null is not "the default": a config.json with `"mlpRatio": null` was silently read as 4.
    [{ mlpRatio: null }, 'mlpRatio', /^mlpRatio must not be null \(leave the field out for its default\), got null$/],
    [{ embedDim: null }, 'embedDim', /^embedDim must not be null/],
    [{ mlpRatio: '4' }, 'mlpRatio', /^mlpRatio must be positive/],
    [{ depth: 2 ** 53 }, 'depth', /^depth must be an integer >= 1, got 9007199254740992$/],
    [{ qkvBias: 'yes' }, 'qkvBias', /^qkvBias must be true or false, got "yes"$/],
    [{ classToken: 0 }, 'classToken', /^classToken must be true or false, got 0$/],
    [{ fcNorm: null }, 'fcNorm', /^fcNorm must not be null/],
  ])('refuses %o naming %s', (change, field, message) => {
    let error: unknown = null;
    try {
      resolveVitConfig({ ...TINY, ...change } as VitConfigInput);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    expect((error as ConfigError).message).toMatch(message);
  });

  it.each([
    ['ViT-B', { ...VIT_PRESETS.vit_base_patch16_224 }],
    ['tiny, no qkv bias, no head', { ...TINY, qkvBias: false, numClasses: 0 }],
    ['avg pool with fc_norm and no CLS, mlpRatio 2.5', { ...TINY, classToken: false, globalPool: 'avg', mlpRatio: 2.5, imgSize: [32, 48] }],
  ] as const)('vitParameterShapes and vitParameterCount give what the built model holds (%s)', (_, input) => {
    const config = resolveVitConfig(input as VitConfigInput);
    const model = new VisionTransformer(config, { weights: 'zeros' });
    const built = new Map(model.parameters.map((parameter) => [parameter.key, [...parameter.timmShape]]));
    expect([...vitParameterShapes(config)]).toEqual([...built]);
    expect(vitParameterCount(config)).toBe(countParameters(model).total);
    model.dispose();
  });

  it.each([
    [{ embedDim: 2 ** 20, depth: 1000, numHeads: 16 }],
    [{ numClasses: 1e12 }],
    [{ imgSize: 2 ** 20, patchSize: 1 }],
  ])('refuses %o from the config alone, before any tensor exists', (change) => {
    const before = tf.memory().numTensors;
    expect(() => new VisionTransformer({ ...TINY, ...change } as VitConfigInput)).toThrow(/^backbone must have at most 1073741824 parameters \(2\^30 float32 values, 4 GiB; .*\), got \d/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes ViT-L, and a backbone just under the limit from its config', () => {
    expect(vitParameterCount(vitPreset('vit_large_patch16_224'))).toBe(304_326_632);
    expect(() => resolveVitConfig({ embedDim: 1536, depth: 36, numHeads: 16 })).not.toThrow();
  });

  it('refuses a preset name it does not know', () => {
    expect(() => vitPreset('vit_huge_patch14_224')).toThrow(/^backbone must be one of vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224, vit_large_patch16_224, got "vit_huge_patch14_224"$/);
  });
});

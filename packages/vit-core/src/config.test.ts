import { describe, expect, it } from 'vitest';
import type { VitConfigInput } from './config';
import { resolveVitConfig, vitPreset } from './config';
import { ConfigError } from './errors';

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

  it('refuses a preset name it does not know', () => {
    expect(() => vitPreset('vit_huge_patch14_224')).toThrow(/^backbone must be one of vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224, vit_large_patch16_224, got "vit_huge_patch14_224"$/);
  });
});

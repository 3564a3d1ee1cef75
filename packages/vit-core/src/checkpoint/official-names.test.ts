import { describe, expect, it } from 'vitest';
import { ConfigError, FormatError } from '../errors';
import type { HostTensor } from './host-tensor';
import type { OfficialNames } from './official-names';
import { fromOfficialNames, officialDim, officialName, toOfficialNames } from './official-names';

/** A made-up method: one tensor per block stacked into one official parameter, a head, and an option the official code fixes. */
const NAMES: OfficialNames = {
  method: 'demo',
  source: 'example/official@0000000: model.py',
  tensors: [
    { tuned: 'demo/blocks.{i}.tokens', official: 'enc.tokens', stack: true },
    { tuned: 'demo/blocks.{i}.scale', official: 'blocks.{i}.scale' },
    { tuned: 'head.weight', official: 'head.last_layer.weight' },
  ],
  unused: ['head.bias'],
  requires: { position: 'attn' },
  sizes: (official) => ({ tokens: officialDim(official('enc.tokens'), 1) }),
};
const tensor = (shape: number[], start: number): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, index) => start + index) });

describe('official parameter names', () => {
  const tuned = new Map([
    ['demo/blocks.0.tokens', tensor([1, 2, 3], 0)],
    ['demo/blocks.1.tokens', tensor([1, 2, 3], 6)],
    ['demo/blocks.0.scale', tensor([3], 20)],
    ['demo/blocks.1.scale', tensor([3], 30)],
    ['head.weight', tensor([4, 3], 40)],
    ['head.bias', tensor([4], 60)],
  ]);

  it('stacks per-block tensors in block order, renames the rest, leaves the unused out, and reads them back', () => {
    const official = toOfficialNames(NAMES, { position: 'attn' }, tuned, 'tuned.safetensors');
    expect([...official.keys()].sort()).toEqual(['blocks.0.scale', 'blocks.1.scale', 'enc.tokens', 'head.last_layer.weight']);
    expect(official.get('enc.tokens')).toEqual(tensor([2, 2, 3], 0));
    expect(NAMES.sizes((key) => official.get(key), 2)).toEqual({ tokens: 2 });
    const { tensors, ignored } = fromOfficialNames(NAMES, new Map([...official, ['enc.pos_embed', tensor([1], 0)]]));
    expect(ignored).toEqual(['enc.pos_embed']);
    expect(new Map([...tensors].sort())).toEqual(new Map([...tuned].filter(([key]) => key !== 'head.bias').sort()));
    expect(officialName(NAMES, 'demo/blocks.1.tokens')).toBe('enc.tokens[1]');
    expect(officialName(NAMES, 'demo/blocks.1.scale')).toBe('blocks.1.scale');
    expect(officialName(NAMES, 'fc_norm.weight')).toBe('fc_norm.weight');
  });

  it('refuses an option the official code has no choice of, a tensor without a place, and a gap in a stack', () => {
    expect(() => toOfficialNames(NAMES, { position: 'mlp' }, tuned, 'tuned.safetensors')).toThrow(ConfigError);
    expect(() => toOfficialNames(NAMES, { position: 'mlp' }, tuned, 'tuned.safetensors')).toThrow(/tuned\.safetensors: demo option position must be "attn" .*example\/official@0000000 has no other/);
    const extra = new Map([...tuned, ['blocks.0.attn.qkv.weight', tensor([9, 3], 0)]]);
    expect(() => toOfficialNames(NAMES, { position: 'attn' }, extra, 'tuned.safetensors')).toThrow(new FormatError('tuned.safetensors', 'demo: the official code has no parameter for blocks.0.attn.qkv.weight (it trains the method and the head only)'));
    const gap = new Map([...tuned].filter(([key]) => key !== 'demo/blocks.0.tokens'));
    expect(() => toOfficialNames(NAMES, { position: 'attn' }, gap, 'tuned.safetensors')).toThrow(/enc\.tokens stacks one \[1, 2, 3\] tensor per block, from block 0 on; the file's are 1: \[1, 2, 3\]/);
  });
});

import { describe, expect, it } from 'vitest';
import { firstDifference } from './fingerprint';

describe('firstDifference', () => {
  it('names the first path where a saved fingerprint and the current one differ', () => {
    const saved = { config: { lr: 0.1, groups: ['a', 'b'] }, seed: 1 };
    expect(firstDifference(saved, JSON.parse(JSON.stringify(saved)))).toBeNull();
    expect(firstDifference(saved, { config: { lr: 0.2, groups: ['a', 'b'] }, seed: 1 })).toBe('config.lr: 0.1 in the checkpoint, 0.2 now');
    expect(firstDifference(saved, { config: { lr: 0.1, groups: ['a'] }, seed: 1 })).toBe('config.groups.1: "b" in the checkpoint, absent now');
    expect(firstDifference(saved, { ...saved, extra: true })).toBe('extra: absent in the checkpoint, true now');
    expect(firstDifference(1, 2)).toBe('the run: 1 in the checkpoint, 2 now');
  });
});

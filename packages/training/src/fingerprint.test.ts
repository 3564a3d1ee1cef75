import { describe, expect, it } from 'vitest';
import { firstDifference } from './fingerprint';

describe('firstDifference', () => {
  it('names the first path where a saved fingerprint and the current one differ', () => {
    const saved = { config: { lr: 0.1, groups: ['a', 'b'] }, seed: 1 };
    expect(firstDifference(saved, JSON.parse(JSON.stringify(saved)))).toBeNull();
    expect(firstDifference(saved, { config: { lr: 0.2, groups: ['a', 'b'] }, seed: 1 })).toBe('config.lr: 0.1 in the checkpoint, 0.2 now');
    expect(firstDifference(saved, { config: { lr: 0.1, groups: ['a'] }, seed: 1 })).toBe('config.groups[1]: "b" in the checkpoint, absent now');
    expect(firstDifference(saved, { ...saved, extra: true })).toBe('extra: absent in the checkpoint, true now');
    expect(firstDifference(1, 2)).toBe('the run: 1 in the checkpoint, 2 now');
  });

  it('starts from a given path and names the two values with the labels given', () => {
    const store = { saved: 'there', current: 'here', whole: 'the store' };
    expect(firstDifference({ seeds: [42] }, { seeds: [44] }, '', store)).toBe('seeds[0]: 42 there, 44 here');
    expect(firstDifference({ runs: [{ epochs: 1 }] }, { runs: [{ epochs: 2 }] }, 'methods.sct', store)).toBe('methods.sct.runs[0].epochs: 1 there, 2 here');
    expect(firstDifference([1], { 0: 1 }, '', store)).toBe('the store: [1] there, {"0":1} here');
    expect(firstDifference({ a: [1, 2] }, { a: [1, 2] }, '', store)).toBeNull();
  });
});

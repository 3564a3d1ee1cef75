// The mapping pruning of source-maps.js, on maps written by hand.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pruneSources } from './source-maps.js';

const mapFile = path.join(process.cwd(), 'dist', 'index.js.map');
const sources = ['../src/a.ts', '../../../node_modules/.pnpm/x/src/b.ts', '../src/c.ts'];

describe('pruneSources', () => {
  it('keeps a map of the package’s own sources as it is, without sourcesContent', () => {
    const map = { version: 3, sources: ['../src/a.ts', '../src/c.ts'], sourcesContent: ['a', 'c'], names: [], mappings: 'AAAA,CCAC;AAAA,EDCE' };
    expect(pruneSources(map, mapFile)).toEqual({ version: 3, sources: ['../src/a.ts', '../src/c.ts'], names: [], mappings: 'AAAA,CCAC;AAAA,EDCE' });
  });

  it('drops the sources outside the package and re-bases the mappings after them', () => {
    // Line 0: col 0 -> a.ts 0:0; col 1 -> b.ts 0:1; col 2 -> c.ts 0:2.
    const pruned = pruneSources({ version: 3, sources, sourcesContent: ['a', 'b', 'c'], names: [], mappings: 'AAAA,CCAC,CCAC' }, mapFile);
    expect(pruned.sources).toEqual(['../src/a.ts', '../src/c.ts']);
    expect(pruned).not.toHaveProperty('sourcesContent');
    // col 1 maps nothing (it ends a.ts's range); col 2 -> source 1 (c.ts) 0:2.
    expect(pruned.mappings).toBe('AAAA,C,CCAE');
  });

  it('writes one unmapped segment for a run of dropped ones, none at the start of a line', () => {
    // Line 0: b.ts 0:0 and 0:1. Line 1: a.ts 0:1 at col 0, then b.ts 0:1 at cols 1 and 2.
    const map = { version: 3, sources, names: [], mappings: 'ACAA,CAAC;ADAA,CCAA,CAAA' };
    // Line 0 is left empty; line 1 keeps a.ts and one unmapped segment after it.
    expect(pruneSources(map, mapFile).mappings).toBe(';AAAC,C');
  });
});

// @ts-check
import { defineConfig } from 'tsup';
import { sourceMapOptions } from './source-maps.js';

/**
 * The build every published package shares: ESM and CJS with type declarations for both,
 * source maps into the shipped src/ (see source-maps.js), Node 20 syntax. A package's tsup.config.ts is one line that calls this.
 * @param {import('tsup').Options} [overrides]
 */
export function createTsupConfig(overrides = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    treeshake: true,
    ...sourceMapOptions(overrides.entry ?? ['src/index.ts']),
    ...overrides,
  });
}

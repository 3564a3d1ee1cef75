// @ts-check
import { rmSync } from 'node:fs';
import { defineConfig } from 'tsup';

/**
 * The build every published package shares: ESM and CJS with type declarations for both,
 * source maps, Node 20 syntax. A package's tsup.config.ts is one line that calls this.
 * @param {import('tsup').Options} [overrides]
 */
export function createTsupConfig(overrides = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    treeshake: true,
    ...overrides,
  });
}

/**
 * A package with a browser build and a Node build (the `node` export condition): `src/index.ts`
 * becomes `dist/index.*` (imports no Node module; tfjs-core's modules stay imports, so a bundler
 * shares them with the app's tfjs-core) and `src/node.ts` becomes `dist/node.*` (the browser
 * build plus Node file I/O). The Node build bundles tfjs-core's `dist/` deep imports (its gradient
 * modules): Node's ESM loader cannot load them (extensionless imports), and tfjs-core keeps its
 * registries and engine in process globals, so the bundled copy registers into the app's tfjs-core.
 * The two builds run at once, and tsup's `clean` of one would delete the other's declarations, so
 * `dist` is emptied here, once, before both.
 * @param {{ browser?: import('tsup').Options, node?: import('tsup').Options }} [overrides]
 */
export function createBrowserAndNodeTsupConfig(overrides = {}) {
  const shared = {
    format: /** @type {import('tsup').Format[]} */ (['esm', 'cjs']),
    dts: true,
    sourcemap: true,
    splitting: false,
    treeshake: true,
  };
  rmSync('dist', { recursive: true, force: true });
  return defineConfig([
    { ...shared, entry: { index: 'src/index.ts' }, target: 'es2022', platform: 'browser', ...overrides.browser },
    {
      ...shared,
      entry: { node: 'src/node.ts' },
      target: 'node20',
      platform: 'node',
      noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
      ...overrides.node,
    },
  ]);
}

import { builtinModules } from 'node:module';
import type { Plugin } from 'vite';
import { defineConfig } from 'vite';

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);

/**
 * Fails the build when the app or a package of this repository imports a Node built-in: they must
 * be browser-safe as they are, and Vite's silent "externalized for browser compatibility" stub
 * would hide a packaging bug. Installed packages (under node_modules) are left to their own
 * `browser` field: tfjs-backend-wasm's Emscripten loader requires `fs` only under Node and maps it
 * to false for browsers.
 */
function refuseNodeBuiltins(): Plugin {
  return {
    name: 'refuse-node-builtins',
    enforce: 'pre',
    resolveId(source, importer) {
      if (NODE_BUILTINS.has(source) && !(importer ?? '').includes('/node_modules/')) this.error(`${importer ?? 'the app'} imports the Node built-in '${source}': the browser build must import none`);
      return null;
    },
  };
}

export default defineConfig({
  plugins: [refuseNodeBuiltins()],
  // One tfjs engine for the app and every package (they take tfjs-core as a peer).
  resolve: { dedupe: ['@tensorflow/tfjs-core'] },
  build: {
    target: 'es2022',
    // The backbones and the IDX files stay files (fetched when used), never inlined into the script.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 4096,
  },
});

import { builtinModules } from 'node:module';
import type { Plugin } from 'vite';
import { defineConfig } from 'vite';

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);

/**
 * Fails the build when any module of the app's graph imports a Node built-in: the packages must
 * be browser-safe as they are, so Vite's silent "externalized for browser compatibility" stub
 * would hide a packaging bug.
 */
function refuseNodeBuiltins(): Plugin {
  return {
    name: 'refuse-node-builtins',
    enforce: 'pre',
    resolveId(source, importer) {
      if (NODE_BUILTINS.has(source)) this.error(`${importer ?? 'the app'} imports the Node built-in '${source}': the browser build must import none`);
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

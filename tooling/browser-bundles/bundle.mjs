// @ts-check
import { builtinModules } from 'node:module';
import { URL, fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The packages a web app bundles: each must build for the browser without stubs. */
export const BROWSER_PACKAGES = [
  '@visual-peft/vit-core',
  '@visual-peft/training',
  '@visual-peft/adapter-methods',
  '@visual-peft/prompt-methods',
  '@visual-peft/query-tuning',
  '@visual-peft/channel-tuning',
];

const here = fileURLToPath(new URL('.', import.meta.url));
const builtins = new Set(builtinModules);

/**
 * @typedef {object} BrowserBundle
 * @property {string[]} errors esbuild's errors (empty when the bundle built)
 * @property {string[]} nodeImports Node built-in modules the bundle imports
 * @property {string[]} inputs files bundled, relative to this folder
 * @property {number} minifiedBytes
 * @property {number} gzipBytes
 */

/**
 * Bundles everything `specifier` exports as a web app's bundler would (esbuild, platform
 * `browser`: no `node` export condition), minified, with tfjs-core left out (the app brings it).
 * Nothing is stubbed: a Node built-in anywhere in the graph is an error or a listed import.
 * @param {string} specifier a package name or a path
 * @returns {Promise<BrowserBundle>}
 */
export async function bundleForBrowser(specifier) {
  try {
    const result = await build({
      stdin: { contents: `export * from ${JSON.stringify(specifier)};`, resolveDir: here, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-core/*'],
    });
    const nodeImports = new Set();
    for (const input of Object.values(result.metafile.inputs)) {
      for (const { path } of input.imports) if (path.startsWith('node:') || builtins.has(path)) nodeImports.add(path);
    }
    const code = result.outputFiles[0]?.contents ?? new Uint8Array();
    return {
      errors: [],
      nodeImports: [...nodeImports].sort(),
      inputs: Object.keys(result.metafile.inputs),
      minifiedBytes: code.byteLength,
      gzipBytes: gzipSync(code).byteLength,
    };
  } catch (error) {
    const errors = /** @type {{ errors?: { text: string }[] }} */ (error).errors;
    if (errors === undefined) throw error;
    return { errors: errors.map((entry) => entry.text), nodeImports: [], inputs: [], minifiedBytes: 0, gzipBytes: 0 };
  }
}

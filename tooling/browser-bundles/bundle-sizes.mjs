// Prints the size of each browser-safe package as a web app bundles it: everything it exports,
// minified by esbuild, and gzipped; tfjs-core excluded. Run after a build: pnpm bundle-sizes
// @ts-check
import console from 'node:console';
import process from 'node:process';
import { BROWSER_PACKAGES, bundleForBrowser } from './bundle.mjs';

/** @param {number} bytes */
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const rows = [];
for (const name of BROWSER_PACKAGES) {
  const bundle = await bundleForBrowser(name);
  if (bundle.errors.length > 0 || bundle.nodeImports.length > 0) {
    console.error(`${name}: does not bundle for the browser: ${[...bundle.errors, ...bundle.nodeImports].join('; ')}`);
    process.exitCode = 1;
    continue;
  }
  rows.push(`| ${name} | ${kb(bundle.minifiedBytes)} | ${kb(bundle.gzipBytes)} |`);
}
console.log(['| package (with what it imports, tfjs-core excluded) | minified | gzip |', '| --- | ---: | ---: |', ...rows].join('\n'));

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { BROWSER_PACKAGES, bundleForBrowser } from '../bundle.mjs';

describe('browser bundles', () => {
  it.each(BROWSER_PACKAGES)('%s bundles for the browser with no Node module and no node build', async (name) => {
    const bundle = await bundleForBrowser(name);
    expect(bundle.errors).toEqual([]);
    expect(bundle.nodeImports).toEqual([]);
    expect(bundle.inputs.some((input) => /vit-core\/dist\/index\.js$/.test(input))).toBe(true);
    expect(bundle.inputs.filter((input) => /\/dist\/node\.c?js$/.test(input))).toEqual([]);
    expect(bundle.minifiedBytes).toBeGreaterThan(1000);
  });

  it("fails on a Node module: vit-core's node build does not bundle for the browser", async () => {
    const nodeBuild = createRequire(import.meta.url).resolve('@visual-peft/vit-core').replace(/index\.cjs$|node\.cjs$/, 'node.js');
    const bundle = await bundleForBrowser(nodeBuild);
    expect([...bundle.errors, ...bundle.nodeImports].join('\n')).toMatch(/crypto|fs|path|zlib/);
  });
});

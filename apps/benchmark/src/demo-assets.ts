import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The app's own files: the demo's in apps/benchmark/demo/, the papers' suite files in suites/ and
 * examples/, all shipped in the npm package. This module sits directly in src/, and the build bundles
 * it into dist/cli.js: one folder below the app in both cases, so one relative URL serves the tests,
 * the built command and an npm install, never the working directory.
 */

/** The committed Fashion-MNIST subset (gzipped IDX, the release's file names). */
export const DEMO_DATA_DIR = fileURLToPath(new URL('../demo/data', import.meta.url));

/** The project's own pretrained demo backbones: `<dir>/{mae,supervised}/{model.safetensors,config.json,recipe.json}`. */
export const DEMO_BACKBONES_DIR = fileURLToPath(new URL('../demo/backbones', import.meta.url));

/** The folders of the suite files the app ships, looked in by file name (`locateSuiteFile`). */
export const BUNDLED_SUITE_DIRS: readonly string[] = ['suites', 'examples'].map((folder) => fileURLToPath(new URL(`../${folder}`, import.meta.url)));

/**
 * A suite file's path: `path` itself when it exists; else, for a bare file name, the app's own file of
 * that name (suites/, then examples/), so `--suite gatedpt-table1-fgvc-mae.yaml` works from any folder
 * and from an npm install; else `path` unchanged (its reader says it is missing).
 */
export function locateSuiteFile(path: string): string {
  if (existsSync(path) || /[\\/]/.test(path)) return path;
  return BUNDLED_SUITE_DIRS.map((dir) => join(dir, path)).find((candidate) => existsSync(candidate)) ?? path;
}

import { fileURLToPath } from 'node:url';

/*
 * The demo's committed files live in apps/benchmark/demo/. This module sits directly in src/, and the
 * build bundles it into dist/cli.js: one folder below the app in both cases, so one relative URL
 * serves the tests and the built command.
 */

/** The committed Fashion-MNIST subset (gzipped IDX, the release's file names). */
export const DEMO_DATA_DIR = fileURLToPath(new URL('../demo/data', import.meta.url));

/** The project's own pretrained demo backbones: `<dir>/{mae,supervised}/{model.safetensors,config.json,recipe.json}`. */
export const DEMO_BACKBONES_DIR = fileURLToPath(new URL('../demo/backbones', import.meta.url));

#!/usr/bin/env node
// The clean-consumer smoke test: pack every published package, install the tarballs with plain npm
// into an empty project (with tfjs-core and its cpu backend from the registry), then, for each method
// package alone, type-check the scenario strictly (node16 resolution, as ESM and as CJS) and run it
// as an ES module and as a CommonJS script. See README.md.
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogVersion, installTarballs, packPackages, publishedPackageDirs, run } from './pack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const scenarios = path.join(here, 'scenario');
const keep = process.argv.includes('--keep');
const work = mkdtempSync(path.join(tmpdir(), 'consumer-smoke-'));
const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);

try {
  const tarballs = await packPackages(publishedPackageDirs(), path.join(work, 'tarballs'));
  console.log(`packed ${tarballs.length} packages (${seconds()} s)`);

  const project = path.join(work, 'project');
  const registry = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', 'typescript', '@types/node'].map((name) => `${name}@${catalogVersion(name)}`);
  installTarballs({ projectDir: project, tarballs, registry, type: 'commonjs' });
  console.log(`installed them with npm into an empty project (${seconds()} s)`);

  // One text per scenario, compiled as ESM (.mts -> .mjs) and as CommonJS (.cts -> .cjs).
  const methodPackages = readdirSync(scenarios)
    .filter((file) => file.endsWith('.ts') && file !== 'shared.ts')
    .map((file) => file.slice(0, -'.ts'.length));
  for (const name of ['shared', ...methodPackages]) {
    const text = readFileSync(path.join(scenarios, `${name}.ts`), 'utf8');
    writeFileSync(path.join(project, `${name}.mts`), text.replaceAll("'./shared.js'", "'./shared.mjs'"));
    writeFileSync(path.join(project, `${name}.cts`), text.replaceAll("'./shared.js'", "'./shared.cjs'"));
  }
  copyFileSync(path.join(here, 'tsconfig.consumer.json'), path.join(project, 'tsconfig.json'));
  run(process.execPath, [path.join(project, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
  console.log(`strict type-check (node16, ESM and CJS) passed (${seconds()} s)`);

  // Every scenario runs, so one failure does not hide another's.
  const failures = [];
  for (const name of methodPackages) {
    for (const ext of ['mjs', 'cjs']) {
      try {
        process.stdout.write(`${run(process.execPath, [`${name}.${ext}`], project).trimEnd().replace(/^/gm, `  [${ext}] `)}\n`);
      } catch (error) {
        failures.push(`${name}.${ext}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  if (failures.length > 0) {
    console.error(failures.join('\n\n'));
    throw new Error(`consumer smoke test: ${failures.length} of ${methodPackages.length * 2} scenarios failed (${seconds()} s)`);
  }
  console.log(`consumer smoke test passed in ${seconds()} s`);
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

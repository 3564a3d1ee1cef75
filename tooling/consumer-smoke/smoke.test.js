// The clean-consumer smoke test (see README.md): pack every published package, install the tarballs
// with plain npm into an empty project (tfjs-core and its cpu backend from the registry), then, for
// each method package alone, type-check the scenario strictly (node16 resolution, as ESM and as CJS)
// and run it as an ES module and as a CommonJS script. CONSUMER_SMOKE_KEEP=1 keeps the project.
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { catalogVersion, installTarballs, packPackages, publishedPackageDirs, run } from './pack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const scenarios = path.join(here, 'scenario');
const methodPackages = readdirSync(scenarios)
  .filter((file) => file.endsWith('.ts') && file !== 'shared.ts')
  .map((file) => file.slice(0, -'.ts'.length));
const work = mkdtempSync(path.join(tmpdir(), 'consumer-smoke-'));
const project = path.join(work, 'project');

describe('a clean npm project with the packed tarballs', () => {
  beforeAll(async () => {
    const started = Date.now();
    // The libraries; an app (apps/*) installs them with itself in its own check:package.
    const tarballs = await packPackages(publishedPackageDirs(['packages']), path.join(work, 'tarballs'));
    const registry = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', 'typescript', '@types/node'].map((name) => `${name}@${catalogVersion(name)}`);
    installTarballs({ projectDir: project, tarballs, registry, type: 'commonjs' });
    // One text per scenario, compiled as ESM (.mts -> .mjs) and as CommonJS (.cts -> .cjs).
    for (const name of ['shared', ...methodPackages]) {
      const text = readFileSync(path.join(scenarios, `${name}.ts`), 'utf8');
      writeFileSync(path.join(project, `${name}.mts`), text.replaceAll("'./shared.js'", "'./shared.mjs'"));
      writeFileSync(path.join(project, `${name}.cts`), text.replaceAll("'./shared.js'", "'./shared.cjs'"));
    }
    copyFileSync(path.join(here, 'tsconfig.consumer.json'), path.join(project, 'tsconfig.json'));
    console.log(`packed ${tarballs.length} packages and installed them with npm in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  afterAll(() => {
    if (process.env.CONSUMER_SMOKE_KEEP) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  it('type-checks every scenario strictly (node16, as ESM and as CJS) and compiles them', () => {
    run(process.execPath, [path.join(project, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
  });

  for (const name of methodPackages) {
    for (const ext of ['mjs', 'cjs']) {
      it(`trains, saves and reloads with @visual-peft/${name} alone, as ${ext === 'mjs' ? 'an ES module' : 'a CommonJS script'}`, () => {
        console.log(run(process.execPath, [`${name}.${ext}`], project).trimEnd());
      });
    }
  }
});

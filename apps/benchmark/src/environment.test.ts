import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runEnvironment, visualPeftVersions } from './environment';

describe('runEnvironment', () => {
  it('records the backend, device, Node and the installed version of every @visual-peft package the app uses', () => {
    const versions = visualPeftVersions();
    const app = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(versions)).toEqual(Object.keys(app.dependencies).filter((name) => name.startsWith('@visual-peft/')).sort());
    const vitCore = JSON.parse(readFileSync(new URL('../../../packages/vit-core/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(versions['@visual-peft/vit-core']).toBe(vitCore.version);
    const environment = runEnvironment({ backend: 'wasm', package: '@tensorflow/tfjs-backend-wasm', packageVersion: '4.22.0', tfjsCoreVersion: '4.22.0', device: 'CPU (WebAssembly, SIMD)', attempts: [] });
    expect(environment).toEqual({
      backend: 'wasm',
      backendPackage: '@tensorflow/tfjs-backend-wasm',
      backendVersion: '4.22.0',
      device: 'CPU (WebAssembly, SIMD)',
      tfjsCoreVersion: '4.22.0',
      node: process.version,
      packages: versions,
      hostname: hostname(),
    });
  });
});

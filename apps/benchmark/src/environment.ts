import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { BackendInfo } from '@visual-peft/backends';
import type { RunEnvironment } from './suite/result-record';

const require = createRequire(import.meta.url);

/**
 * Versions of the @visual-peft/* packages this app depends on, as installed. The app's package.json
 * is one folder up from both src/ (tests) and dist/ (the built command), so one path serves both.
 */
export function visualPeftVersions(): Record<string, string> {
  const app = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string> };
  const versions: Record<string, string> = {};
  for (const name of Object.keys(app.dependencies ?? {}).filter((dependency) => dependency.startsWith('@visual-peft/')).sort()) {
    versions[name] = (require(`${name}/package.json`) as { version: string }).version;
  }
  return versions;
}

/** What produced a number: the backend in use, its device and every version that matters. */
export function runEnvironment(info: BackendInfo): RunEnvironment {
  return {
    backend: info.backend,
    backendPackage: info.package,
    backendVersion: info.packageVersion,
    device: info.device,
    tfjsCoreVersion: info.tfjsCoreVersion,
    node: process.version,
    packages: visualPeftVersions(),
    hostname: hostname(),
  };
}

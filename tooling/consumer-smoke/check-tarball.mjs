#!/usr/bin/env node
// The tarball rules every published package's `check:package` runs (from the package's folder):
// - LICENSE is in the tarball, byte for byte the repository's LICENSE;
// - no source is shipped twice: the tarball ships src/ once, so no source map carries
//   `sourcesContent`, and every map's `sources` resolve to a file inside the tarball;
// - package.json names its homepage, bugs and repository (with this package's directory).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packPackage, repoRoot, run } from './pack.mjs';

const packageDir = process.cwd();
const relativeDir = path.relative(repoRoot, packageDir).split(path.sep).join('/');
const work = mkdtempSync(path.join(tmpdir(), 'check-tarball-'));
/** @type {string[]} */
const problems = [];
try {
  const packed = await packPackage(packageDir, work);
  run('tar', ['xzf', packed.filename, '-C', work], work);
  const unpacked = path.join(work, 'package');
  const shipped = new Set(packed.files);

  if (!shipped.has('LICENSE')) problems.push('LICENSE is not in the tarball');
  else if (!readFileSync(path.join(unpacked, 'LICENSE')).equals(readFileSync(path.join(repoRoot, 'LICENSE')))) {
    problems.push(`LICENSE differs from the repository's LICENSE (copy it: cp LICENSE ${relativeDir}/LICENSE)`);
  }

  for (const file of packed.files.filter((f) => f.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(path.join(unpacked, file), 'utf8'));
    if (map.sourcesContent !== undefined) problems.push(`${file}: carries sourcesContent (the sources ship in src/)`);
    for (const source of map.sources) {
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), map.sourceRoot ?? '', source));
      if (!shipped.has(resolved)) problems.push(`${file}: source ${source} is not in the tarball`);
    }
  }

  const manifest = JSON.parse(readFileSync(path.join(unpacked, 'package.json'), 'utf8'));
  if (typeof manifest.homepage !== 'string') problems.push('package.json: no homepage');
  if (typeof manifest.bugs?.url !== 'string') problems.push('package.json: no bugs.url');
  if (typeof manifest.repository?.url !== 'string') problems.push('package.json: no repository.url');
  if (manifest.repository?.directory !== relativeDir) {
    problems.push(`package.json: repository.directory is ${manifest.repository?.directory}, expected ${relativeDir}`);
  }
  if (manifest.license !== 'MIT') problems.push(`package.json: license is ${manifest.license}, the LICENSE file is MIT`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (problems.length > 0) {
  console.error(`check-tarball ${relativeDir}:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-tarball ${relativeDir}: LICENSE, source maps and links are in order`);

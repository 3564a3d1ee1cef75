// Packs workspace packages the way `pnpm publish` does and installs the tarballs with plain npm into
// an empty project: what a user gets from the registry, without a registry. Shared by this package's
// smoke test, the per-package tarball check and other packages' own consumer scenarios.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A user's shell environment: without the npm_* settings pnpm hands to the package script running us. */
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

/**
 * Runs a command to its end; throws with its output when it fails.
 * @param {string} command
 * @param {string[]} args
 * @param {string} cwd
 */
export function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, env: userEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed with ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** pnpm, as the workspace pins it (npm_execpath when a pnpm script runs us, else npx). */
function pnpm() {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(path.basename(execPath))) {
    return /\.c?js$/.test(execPath) ? { command: process.execPath, args: [execPath] } : { command: execPath, args: [] };
  }
  const version = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).packageManager.split('@')[1];
  return { command: 'npx', args: ['-y', `pnpm@${version}`] };
}

/**
 * The folders (relative to the root) of the workspace packages that are published: not private.
 * @param {string[]} [groups] the workspace folders to look in
 * @returns {string[]}
 */
export function publishedPackageDirs(groups = ['packages', 'apps']) {
  return groups.flatMap((group) =>
    readdirSync(path.join(repoRoot, group), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${group}/${entry.name}`)
      .filter((dir) => {
        try {
          return JSON.parse(readFileSync(path.join(repoRoot, dir, 'package.json'), 'utf8')).private !== true;
        } catch {
          return false;
        }
      }),
  );
}

/**
 * `pnpm pack` of one package: workspace: ranges become the versions `pnpm publish` would write.
 * @param {string} packageDir absolute, or relative to the root
 * @param {string} destination folder for the tarball
 * @returns {Promise<{ name: string, version: string, filename: string, files: string[] }>}
 */
export async function packPackage(packageDir, destination) {
  mkdirSync(destination, { recursive: true });
  const { command, args } = pnpm();
  const cwd = path.resolve(repoRoot, packageDir);
  /** @type {string} */
  const out = await new Promise((resolve, reject) => {
    const child = spawn(command, [...args, 'pack', '--json', '--pack-destination', destination], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`pnpm pack in ${cwd} failed with ${code}:\n${stdout}\n${stderr}`))));
  });
  /** @type {{ name: string, version: string, filename: string, files: { path: string }[] }} */
  const packed = JSON.parse(out.slice(out.indexOf('{')));
  return { name: packed.name, version: packed.version, filename: packed.filename, files: packed.files.map((file) => file.path) };
}

/**
 * `packPackage` for several packages, a few at a time (each pack mostly waits on pnpm's start-up).
 * @param {string[]} packageDirs
 * @param {string} destination
 * @param {number} [concurrency]
 * @returns {Promise<string[]>} the tarballs, in the order of `packageDirs`
 */
export async function packPackages(packageDirs, destination, concurrency = 3) {
  /** @type {string[]} */
  const tarballs = [];
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < packageDirs.length; index = next++) {
      tarballs[index] = (await packPackage(/** @type {string} */ (packageDirs[index]), destination)).filename;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, packageDirs.length) }, worker));
  return tarballs;
}

/**
 * Creates an empty npm project in `projectDir` and installs the tarballs plus registry packages
 * (`name@version`) with plain npm, the way a user would.
 * @param {{ projectDir: string, tarballs: string[], registry?: string[], type?: 'module' | 'commonjs' }} options
 */
export function installTarballs({ projectDir, tarballs, registry = [], type = 'module' }) {
  mkdirSync(projectDir, { recursive: true });
  writeFileSync(path.join(projectDir, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type }, null, 2)}\n`);
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--ignore-scripts', ...tarballs, ...registry], projectDir);
}

/**
 * The catalog's version of a dependency (pnpm-workspace.yaml), so a consumer installs what the
 * workspace was tested with.
 * @param {string} name
 */
export function catalogVersion(name) {
  const yaml = readFileSync(path.join(repoRoot, 'pnpm-workspace.yaml'), 'utf8');
  const line = yaml.split('\n').find((l) => l.trim().replace(/^"([^"]+)"/, '$1').startsWith(`${name}:`));
  const version = line?.split(':').at(-1)?.trim();
  if (!version) throw new Error(`${name} is not in the catalog of pnpm-workspace.yaml`);
  return version;
}

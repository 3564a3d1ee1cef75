// @ts-check
/*
 * The app as npm users get it: packs @visual-peft/benchmark and the workspace packages it needs
 * (consumer-smoke's pack helper: pnpm pack, which writes each workspace:^ range as the version it
 * points to), installs the tarballs with plain npm into an empty project outside the repository, and
 * runs the installed bin from there: `help`, `params`, and one real job of the embedded demo
 * (`demo --only`), which proves the packed demo data and backbones load and train.
 * onnxruntime-node, the app's optional dependency, is replaced by a stand-in whose install script
 * fails (as the real one's does when it cannot download its CUDA libraries): npm then drops it, and
 * the bin must still work without it. That needs lifecycle scripts and an `overrides` field, so the
 * install is this script's own, not the helper's `installTarballs` (which runs none).
 *
 * Run by `check:package` after the build; `--keep` leaves the temporary project for inspection.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { packPackages, repoRoot } from '../../../tooling/consumer-smoke/pack.mjs';

/** The one demo job the check trains: the linear probe, the demo's fastest job (about 15 s on 2 cores). */
const DEMO_JOB = 'mae__fmnist-unseen__linear__seed42';
/** What the tarball must hold for `demo` to run (relative to the package root). */
const REQUIRED_FILES = [
  'dist/cli.js',
  'demo/backbones/mae/model.safetensors',
  'demo/backbones/mae/config.json',
  'demo/backbones/supervised/model.safetensors',
  'demo/data/train-images-idx3-ubyte.gz',
  'demo/data/t10k-labels-idx1-ubyte.gz',
  'suites/gatedpt-table1-fgvc-mae.yaml',
  'examples/demo-search.yaml',
  'README.md',
  'LICENSE',
];

const log = (line) => process.stdout.write(`check-package: ${line}\n`);

function fail(message) {
  throw new Error(`check-package: ${message}`);
}

/** The environment of a user's shell: without the npm_* settings pnpm hands to the package script running this. */
const USER_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

function exec(command, args, cwd) {
  return execFileSync(command, args, { cwd, encoding: 'utf8', env: USER_ENV, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

/** The workspace folder of every @visual-peft package, by name. */
function workspacePackages() {
  const folders = new Map();
  for (const parent of ['packages', 'apps']) {
    for (const entry of readdirSync(join(repoRoot, parent))) {
      const file = join(repoRoot, parent, entry, 'package.json');
      if (existsSync(file)) folders.set(JSON.parse(readFileSync(file, 'utf8')).name, join(repoRoot, parent, entry));
    }
  }
  return folders;
}

/** The folders of the app and of every workspace package it reaches through dependencies and required peers. */
function packagesToPack() {
  const folders = workspacePackages();
  const needed = new Set(['@visual-peft/benchmark']);
  for (const name of needed) {
    const manifest = JSON.parse(readFileSync(join(folders.get(name), 'package.json'), 'utf8'));
    const optionalPeers = new Set(Object.entries(manifest.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional === true).map(([peer]) => peer));
    const reached = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}).filter((peer) => !optionalPeers.has(peer))];
    for (const dependency of reached) if (folders.has(dependency)) needed.add(dependency);
  }
  return [...needed].map((name) => folders.get(name));
}

/** An onnxruntime-node whose install script fails, as the real one does offline. */
function failingOnnxruntime(into) {
  const folder = join(into, 'onnxruntime-node-offline');
  mkdirSync(folder);
  writeFileSync(
    join(folder, 'package.json'),
    JSON.stringify({ name: 'onnxruntime-node', version: '1.31.1', main: 'index.js', scripts: { postinstall: "node -e \"console.error('cannot download the CUDA libraries'); process.exit(1)\"" } }),
  );
  writeFileSync(join(folder, 'index.js'), "throw new Error('this stand-in never installs');\n");
  return folder;
}

/** Runs the installed bin from the consumer project; returns its stdout. */
function bin(project, args) {
  try {
    return exec(join(project, 'node_modules', '.bin', 'visual-peft-bench'), args, project);
  } catch (error) {
    fail(`visual-peft-bench ${args.join(' ')} failed (exit ${error.status}):\n${error.stderr}`);
  }
}

const started = Date.now();
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const root = mkdtempSync(join(tmpdir(), 'visual-peft-bench-package-'));
try {
  const tarballs = join(root, 'tarballs');
  mkdirSync(tarballs);
  const folders = packagesToPack();
  const packed = await packPackages(folders, tarballs);
  log(`packed the app and ${folders.length - 1} workspace packages it needs (${seconds()})`);

  const appTarball = packed[0];
  const listed = new Set(exec('tar', ['-tzf', appTarball], root).split('\n').map((line) => line.replace(/^package\//, '')));
  const missing = REQUIRED_FILES.filter((file) => !listed.has(file));
  if (missing.length > 0) fail(`the app's tarball lacks ${missing.join(', ')}`);
  const stray = [...listed].filter((file) => /(^|\/)(src|__fixtures__)\/|\.test\.ts$|\.map$/.test(file));
  if (stray.length > 0) fail(`the app's tarball ships sources, tests or source maps (their sources are not shipped): ${stray.slice(0, 5).join(', ')}`);
  const manifest = JSON.parse(exec('tar', ['-xzOf', appTarball, 'package/package.json'], root));
  const ranges = Object.entries({ ...manifest.dependencies, ...manifest.optionalDependencies }).filter(([, range]) => /^(workspace|catalog):/.test(range));
  if (ranges.length > 0) fail(`the packed package.json keeps ${ranges.map(([name, range]) => `${name}@${range}`).join(', ')}`);

  const project = join(root, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', overrides: { 'onnxruntime-node': `file:${failingOnnxruntime(root)}` } }));
  const install = exec('npm', ['install', '--no-audit', '--no-fund', '--loglevel=warn', ...packed], project);
  if (existsSync(join(project, 'node_modules', 'onnxruntime-node'))) fail('npm kept onnxruntime-node although its install script failed');
  log(`npm installed the tarballs; onnxruntime-node's failing install script dropped it (${seconds()})${install.trim() === '' ? '' : `\n${install.trim()}`}`);

  const help = bin(project, ['help']);
  if (!/^\s+demo \[--out <dir>/m.test(help)) fail(`help does not list demo:\n${help}`);
  const params = JSON.parse(bin(project, ['params', '--backbone', 'vit_small_patch16_224', '--method', 'linear', '--classes', '10']));
  if (params.total !== 21_669_514 || params.trainable !== 3_850) fail(`params: ${JSON.stringify(params)}`);
  log(`help and params ran from the installed bin (${seconds()})`);

  const out = join(project, 'demo-out');
  const demo = bin(project, ['demo', '--out', out, '--only', DEMO_JOB]);
  const summary = JSON.parse(demo.split('\n').find((line) => line.startsWith('{"suite":"demo"')) ?? 'null');
  if (summary === null || summary.jobs !== 1 || summary.ran !== 1) fail(`demo --only ${DEMO_JOB} did not run one job:\n${demo}`);
  const record = JSON.parse(readFileSync(join(out, 'results', `${DEMO_JOB}.json`), 'utf8'));
  // Pretrained features: the five unseen classes well above chance (0.2), as the app's own demo test asks.
  if (!(record.metric.value > 0.4)) fail(`${DEMO_JOB}: top-1 ${record.metric.value}, not above 0.4: did the packed backbone load?`);
  if (record.environment.packages['@visual-peft/vit-core'] === undefined) fail('the record names no @visual-peft versions');
  if (!existsSync(join(out, 'report', 'report.md'))) fail('demo wrote no report');
  log(`demo ran ${DEMO_JOB} from the installed package: top-1 ${(record.metric.value * 100).toFixed(1)} % on ${record.environment.backend} (${seconds()})`);
} finally {
  if (process.argv.includes('--keep')) log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

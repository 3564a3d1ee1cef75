#!/usr/bin/env node
// Fails when a tracked (or new, not ignored) file cites a document that lives outside this
// repository: code and docs cite papers, official code or docs/ instead. Changesets are history and
// are left alone. Run by the root `lint` and `test` scripts.
import { spawnSync } from 'node:child_process';

// Written as classes ([.], [-]) so that this file does not match itself.
const OUTSIDE = ['METHODS[.]md', 'PAPER[-]RESULTS[.]md', '[.][.]/shared/'];

const root = new URL('../..', import.meta.url).pathname;
const args = ['grep', '-n', '-I', '--untracked', '-E', OUTSIDE.join('|'), '--', '.', ':(exclude).changeset'];
const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
if (result.status === 1) process.exit(0); // git grep: no match
if (result.status === 0) {
  process.stderr.write(result.stdout);
  console.error('these lines cite files outside the repository; cite the paper, the official code or docs/ instead');
  process.exit(1);
}
console.error(`check-citations: git grep failed (${result.error?.message ?? result.stderr.trim()})`);
process.exit(2);

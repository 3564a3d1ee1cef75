import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { FileSystemError, VisualPeftError, removeStaleTempFiles } from '@visual-peft/vit-core';
import type { Io } from './io';

/** The lock's file inside the folder it guards. */
export const LOCK_FILE = '.lock';

/** Who holds a folder's lock: the content of its lock file. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** When the lock was taken (ISO 8601). */
  readonly since: string;
  readonly command: string;
}

/** Another process writes the folder (or did, on another host, and its lock cannot be checked from here). */
export class OutputLockedError extends VisualPeftError {}

interface HeldLock {
  readonly path: string;
  /** This lock file's exact content: only a file with it is ours to remove. */
  readonly content: string;
  /** The first folder `mkdir` created for it (undefined: the folder existed). */
  readonly created: string | undefined;
}

/** The locks this process holds, by folder; released when the command ends (`releaseOutputLocks`) or the process exits. */
const held = new Map<string, HeldLock>();

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** Whether a process of this host runs under `pid` (EPERM: it runs, as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}

function parseHolder(content: string): LockHolder | null {
  try {
    const value = JSON.parse(content) as Partial<LockHolder>;
    if (Number.isInteger(value.pid) && (value.pid as number) > 0 && typeof value.host === 'string' && typeof value.since === 'string' && typeof value.command === 'string') return value as LockHolder;
  } catch {
    // Not JSON: handled by the caller like any other unreadable lock.
  }
  return null;
}

function describe(holder: LockHolder): string {
  return `${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
}

/** The takeover claim this process holds while it takes a stale lock over (`takeOver`), if any. */
let claiming: string | null = null;

// A process ended by process.exit (a second Ctrl-C) runs no more async code: remove its lock files synchronously.
let exitHandlerInstalled = false;
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    if (claiming !== null) rmSync(claiming, { force: true });
    for (const lock of held.values()) {
      try {
        if (readFileSync(lock.path, 'utf8') === lock.content) unlinkSync(lock.path);
      } catch {
        // Already gone: nothing to release.
      }
    }
    held.clear();
  });
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Creates `path` holding `content`, whole or not at all: written beside it, then linked into place
 * (EEXIST when `path` exists), so no process ever reads it empty or half written. The part is named
 * `<lock>.part-<hex>`, not as a writeFileAtomic temporary file: the lock's new holder removes every
 * `<lock>.*` beside its lock, and parts of processes still racing must not be reported as
 * interrupted writes. Throws the file system's error.
 */
async function createWhole(path: string, content: string): Promise<void> {
  const part = `${path}.part-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(part, content, { flag: 'wx' });
    await link(part, path);
  } finally {
    await rm(part, { force: true });
  }
}

/** Where the takeover of a stale lock with this exact content is claimed (`<lock>.takeover-<hash>`). */
const TAKEOVER = '.takeover-';

/**
 * Replaces the stale lock `found` at `path` with `content`, so that of several processes doing so
 * at once exactly one succeeds and the lock file is never absent or a live lock replaced: the
 * takeover of one stale content is claimed first (a file named by its hash, linked into place whole:
 * one process gets it), and the claimant, having seen that the lock still holds `found` (only a
 * claimant of `found` changes a lock that holds it), renames its own lock file over it. The claim
 * goes after the rename: a latecomer that claims `found` then sees that the lock moved on. A claim
 * whose process was killed before it finished is a stale lock itself, taken over the same way.
 * (Removing the stale lock and creating a new one instead would let a process that read `found`
 * earlier remove the lock a faster one had just created, and both would hold the folder.)
 * 'changed': the lock is no longer `found`, look again; `busy`: a live process holds the claim.
 */
async function takeOver(path: string, found: string, content: string): Promise<'taken' | 'changed' | { readonly busy: string }> {
  const claim = `${path}${TAKEOVER}${createHash('sha256').update(found).digest('hex').slice(0, 16)}`;
  try {
    await createWhole(claim, content);
  } catch (error) {
    // Gone before the link: the process that has just taken the lock swept it with the claims.
    if (errorCode(error) === 'ENOENT') return 'changed';
    if (errorCode(error) !== 'EEXIST') throw FileSystemError.from(error, claim, 'write') ?? error;
    const other = await readFile(claim, 'utf8').catch(() => null);
    if (other === null) return 'changed';
    const claimant = parseHolder(other);
    if (claimant === null || claimant.host !== hostname() || (running(claimant.pid) && claimant.pid !== process.pid)) return { busy: claim };
    const outcome = await takeOver(claim, other, content);
    if (outcome !== 'taken') return outcome;
  }
  claiming = claim;
  installExitHandler();
  try {
    if ((await readFile(path, 'utf8').catch(() => null)) !== found) return 'changed';
    // A writeFileAtomic-style name: one a killed process leaves is swept with the other temporary files.
    const replacement = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(replacement, content, { flag: 'wx' });
      await rename(replacement, path);
    } catch (error) {
      await rm(replacement, { force: true });
      throw FileSystemError.from(error, path, 'write') ?? error;
    }
    return 'taken';
  } finally {
    await rm(claim, { force: true });
    claiming = null;
  }
}

/**
 * Takes the exclusive lock of an output folder (`<dir>/.lock`, created whole by `createWhole`, holding
 * {pid, host, since, command}), creating the folder if needed, then removes the temporary files
 * killed writes left there (safe only now: no other process writes the folder). A folder another
 * live process holds is refused with an `OutputLockedError` naming it; a lock of this host whose
 * process is gone is taken over, with a note on stderr; a lock of another host is refused with how
 * to remove it. Taking a folder this process already holds does nothing (`demo` runs `run` and
 * `report` on one folder). The lock lasts until `releaseOutputLocks` (the CLI calls it when the
 * command ends, whatever the outcome) or the process exits.
 */
export async function lockOutput(dir: string, command: string, io: Io): Promise<void> {
  const folder = resolve(dir);
  if (held.has(folder)) return;
  let created: string | undefined;
  try {
    created = await mkdir(folder, { recursive: true });
  } catch (error) {
    throw FileSystemError.from(error, folder, 'write') ?? error;
  }
  const path = join(folder, LOCK_FILE);
  const content = `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), command } satisfies LockHolder)}\n`;
  // Each pass either takes the lock, refuses, or takes a stale lock over; a pass that meets another process's takeover looks again.
  for (let attempt = 0, waits = 0; ; attempt += 1) {
    try {
      await createWhole(path, content);
      break;
    } catch (error) {
      // ENOENT: the part went before the link, swept by a process that has just taken the lock.
      if (errorCode(error) === 'ENOENT' && attempt < 5) continue;
      if (errorCode(error) !== 'EEXIST') throw FileSystemError.from(error, path, 'write') ?? error;
    }
    let found: string;
    try {
      found = await readFile(path, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT' && attempt < 5) continue;
      throw FileSystemError.from(error, path, 'read') ?? error;
    }
    const holder = parseHolder(found);
    // Locks are created whole (`createWhole`): one that cannot be read was not written by this program.
    if (holder === null) {
      throw new OutputLockedError(`${folder} is locked (${path}), but the lock cannot be read; if no command uses the folder, remove ${path}`);
    }
    if (holder.host !== hostname()) {
      throw new OutputLockedError(`${folder} is locked by ${describe(holder)}; that host cannot be checked from here: if no command on ${holder.host} uses the folder, remove ${path}`);
    }
    // Our own pid without our lock: a process before a restart had it (containers reuse pids).
    if (running(holder.pid) && holder.pid !== process.pid) throw new OutputLockedError(`${folder} is in use by ${describe(holder)}; wait for it to end or stop it`);
    if (attempt >= 5) throw new OutputLockedError(`${folder}: its stale lock (${describe(holder)}) keeps coming back; remove ${path} if no command uses the folder`);
    const outcome = await takeOver(path, found, content);
    if (outcome === 'taken') {
      io.stderr(`${command}: took over the lock of ${folder} from ${describe(holder)}, which no longer runs`);
      break;
    }
    if (outcome !== 'changed') {
      // Another process is taking this lock over: its lock is there within moments (this pass does not count).
      if (waits >= 100) throw new OutputLockedError(`${folder}: a takeover of its stale lock (${describe(holder)}) did not finish; if no command uses the folder, remove ${path} and ${outcome.busy}`);
      waits += 1;
      attempt -= 1;
      await pause(20);
    }
  }
  held.set(folder, { path, content, created });
  installExitHandler();
  // Takeover claims and parts of processes killed or still racing: the lock is ours now, so none is needed.
  for (const name of await readdir(folder).catch(() => [])) if (name.startsWith(`${LOCK_FILE}.`)) await rm(join(folder, name), { force: true });
  const removed = await removeStaleTempFiles(folder);
  if (removed.paths.length > 0) {
    io.stderr(`${command}: removed ${removed.paths.length} temporary file${removed.paths.length === 1 ? '' : 's'} (${(removed.bytes / 1e6).toFixed(1)} MB) that interrupted writes left in ${folder}`);
  }
}

/** Removes the empty folders of a tree, deepest first (`root` included when it ends up empty). */
async function removeEmptyFolders(root: string): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await removeEmptyFolders(join(root, entry.name));
  // rmdir refuses a folder that is not empty: only empty ones go.
  await rmdir(root).catch(() => {});
}

/**
 * Releases every lock this process holds. After a failure, a folder the command created is removed
 * when the command left nothing in it (its empty subfolders, e.g. `checkpoints/`, go too), and so
 * are the parents `lockOutput` created for it, up to the first it did not create. Never throws: a
 * lock file already gone or replaced is left as it is.
 */
export async function releaseOutputLocks(outcome: { readonly failed: boolean }): Promise<void> {
  const locks = [...held.entries()];
  held.clear();
  for (const [folder, lock] of locks) {
    const content = await readFile(lock.path, 'utf8').catch(() => null);
    if (content === lock.content) await rm(lock.path, { force: true }).catch(() => {});
    if (!outcome.failed || lock.created === undefined) continue;
    await removeEmptyFolders(folder);
    // The parents mkdir created on the way, up to (and with) the first one.
    for (let parent = resolve(folder, '..'); parent.length >= lock.created.length && parent !== folder; parent = resolve(parent, '..')) {
      if (!(await rmdir(parent).then(() => true, () => false))) break;
    }
  }
}

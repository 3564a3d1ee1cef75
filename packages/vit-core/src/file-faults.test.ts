import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileSystemError, FileWriteError, FormatError } from './errors';
import { readBytes, readCheckpoint, writeFileAtomic } from './files';

// `open` is wrapped so a test can make the next call fail the way a full disk does; every other
// call goes to the real file system.
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, open: vi.fn(actual.open) };
});

function errno(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: raw message, ${syscall}`), { code, syscall, ...(path === undefined ? {} : { path }) });
}

describe('FileSystemError: one line with the path, what happened, the errno and a remedy', () => {
  it.each([
    ['EACCES', 'open', 'write', /^\/out\/a\.json: cannot be written: permission denied \(EACCES\); choose a folder you may write, or change its permissions$/],
    ['EACCES', 'open', 'read', /^\/out\/a\.json: cannot be read: permission denied \(EACCES\); make it readable \(chmod\) or run as its owner$/],
    ['EROFS', 'open', undefined, /^\/out\/a\.json: cannot be written: read-only file system \(EROFS\); write to a folder on a writable file system$/],
    ['ENOTDIR', 'mkdir', undefined, /^\/out\/a\.json: cannot be written: a part of the path is a file, not a folder \(ENOTDIR\); choose a path whose parents are folders/],
    ['EEXIST', 'mkdir', undefined, /^\/out\/a\.json: cannot be written: a file is in the way of a folder \(EEXIST\); /],
    ['ENOTDIR', 'scandir', undefined, /^\/out\/a\.json: cannot be read: a part of the path is a file, not a folder \(ENOTDIR\); give the path of a folder$/],
    ['ENOSPC', 'write', undefined, /^\/out\/a\.json: cannot be written: no space left on the device \(ENOSPC\); free some space or write to another disk$/],
    ['EISDIR', 'read', undefined, /^\/out\/a\.json: cannot be read: is a folder, not a file \(EISDIR\); give the path of a file$/],
    ['EWHATEVER', 'open', undefined, /^\/out\/a\.json: cannot be opened: the system refused \(EWHATEVER\); check the path and its permissions$/],
  ] as const)('%s from %s (%s)', (code, syscall, access, message) => {
    const error = FileSystemError.from(errno(code, syscall, '/out/a.json'), undefined, access);
    expect(error).toBeInstanceOf(FileSystemError);
    expect(error!.message).toMatch(message);
    expect(error!.code).toBe(code);
  });

  it('names the file asked for over the one the system call saw, and says how many bytes a full disk needed', () => {
    const error = FileSystemError.from(errno('ENOSPC', 'write', '/out/.a.json.1234.tmp'), '/out/a.json', 'write', 4096)!;
    expect(error.message).toBe('/out/a.json: cannot be written: no space left on the device (4096 bytes to write) (ENOSPC); free some space or write to another disk');
  });

  it('is null for anything that is not a system error', () => {
    expect(FileSystemError.from(new Error('plain'))).toBeNull();
    expect(FileSystemError.from(new RangeError('Invalid typed array length: 1e12'))).toBeNull();
    expect(FileSystemError.from('ENOSPC')).toBeNull();
    expect(FileSystemError.from(null)).toBeNull();
  });
});

describe('file helpers report system faults as FileSystemError', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'vit-core-faults-'));
  });
  afterAll(() => {
    vi.mocked(fsPromises.open).mockRestore();
  });

  it('writeFileAtomic on a full disk: the target named, the bytes it needed, no temporary file left', async () => {
    const actualOpen = vi.mocked(fsPromises.open).getMockImplementation()!;
    vi.mocked(fsPromises.open).mockImplementationOnce(async (path, flags) => {
      const handle = await actualOpen(path, flags);
      return Object.assign(Object.create(handle) as fsPromises.FileHandle, {
        writeFile: async () => {
          throw errno('ENOSPC', 'write');
        },
        sync: () => handle.sync(),
        close: () => handle.close(),
      });
    });
    const path = join(directory, 'weights.safetensors');
    const error = await writeFileAtomic(path, new Uint8Array(1000)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FileWriteError);
    expect(error).toBeInstanceOf(FileSystemError);
    expect((error as Error).message).toBe(`${path}: cannot be written: no space left on the device (1000 bytes to write) (ENOSPC); free some space or write to another disk`);
    expect(readdirSync(directory)).toEqual([]);
  });

  it('writeFileAtomic under a file: ENOTDIR (or EEXIST) with the remedy', async () => {
    writeFileSync(join(directory, 'a-file'), 'x');
    const error = await writeFileAtomic(join(directory, 'a-file', 'out.json'), '{}').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FileSystemError);
    expect((error as FileSystemError).code).toMatch(/^(ENOTDIR|EEXIST)$/);
  });

  it('readBytes: a folder is EISDIR, a missing file stays "no such file"', async () => {
    await expect(readBytes(directory)).rejects.toThrow(new RegExp(`^${directory}: cannot be read: is a folder, not a file \\(EISDIR\\); give the path of a file$`));
    await expect(readCheckpoint(join(directory, 'absent.safetensors'))).rejects.toThrow(FormatError);
  });

  // Root reads and writes through any permission bit, so the test needs an ordinary user.
  it.skipIf(process.getuid?.() === 0)('readBytes: an unreadable file is EACCES (skipped as root, which reads through chmod 000)', async () => {
    const path = join(directory, 'locked.safetensors');
    writeFileSync(path, 'x', { mode: 0o000 });
    await expect(readBytes(path)).rejects.toThrow(/locked\.safetensors: cannot be read: permission denied \(EACCES\)/);
  });
});

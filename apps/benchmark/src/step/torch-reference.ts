import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Io } from '../io';

/** tooling/reference/<name>, looked for above the working directory and above this file. */
function findReferenceScript(name: string): string | null {
  for (let start of [process.cwd(), dirname(fileURLToPath(import.meta.url))]) {
    for (;;) {
      const candidate = join(start, 'tooling', 'reference', name);
      if (existsSync(candidate)) return candidate;
      const parent = dirname(start);
      if (parent === start) break;
      start = parent;
    }
  }
  return null;
}

/**
 * Runs the PyTorch reference script tooling/reference/<name> with `args`, by the first of
 * `pythons` that can, and parses its stdout as JSON; null (each reason on stderr, prefixed
 * `torch:`) when the script is missing or no Python runs it (no torch, say).
 */
export async function runTorchReference(name: string, args: readonly string[], options: { readonly pythons: readonly string[]; readonly threads: number }, io: Io): Promise<unknown> {
  const script = findReferenceScript(name);
  if (script === null) {
    io.stderr(`torch: tooling/reference/${name} not found`);
    return null;
  }
  // OpenBLAS must pick its kernels for this CPU and use the threads asked for. Passive OpenMP waits:
  // with another process on a core, spinning threads made PyTorch's small products 10 times slower.
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(options.threads), OMP_WAIT_POLICY: 'PASSIVE' };
  delete env.OPENBLAS_CORETYPE;
  for (const python of options.pythons) {
    try {
      const { stdout } = await promisify(execFile)(python, [script, ...args], { env, maxBuffer: 1 << 24 });
      return JSON.parse(stdout) as unknown;
    } catch (error) {
      const reason = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
      io.stderr(`torch: not available from ${python}: ${reason.split('\n').at(-1)}`);
    }
  }
  return null;
}

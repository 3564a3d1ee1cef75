import type { Io } from './io';

/**
 * Runs a long command with Ctrl-C handling: the first SIGINT aborts the signal given to `body` (the
 * command stops after its current training step, with a checkpoint of it, or before the next
 * evaluation of a pass that keeps nothing, and ends with an `InterruptedError`, exit 130); a second
 * one exits at once with 130. Every file is written atomically and the lock is released on exit, so
 * quitting at once loses only the work since the last checkpoint.
 */
export async function withInterrupt<T>(io: Io, note: string, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const quit = () => process.exit(130);
  const onInterrupt = () => {
    io.stderr(note);
    controller.abort();
    process.once('SIGINT', quit);
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await body(controller.signal);
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGINT', quit);
  }
}

import type { Worker } from 'node:worker_threads';

/** Resolves once a worker posts its first message (it is ready); rejects if it fails, exits or takes too long. */
export function whenReady(worker: Worker, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error: Error | null) => {
      clearTimeout(timer);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (error === null) resolve();
      else reject(error);
    };
    const onMessage = () => settle(null);
    const onError = (error: Error) => settle(error);
    const onExit = (code: number) => settle(new Error(`the worker exited with code ${code} while starting`));
    const timer = setTimeout(() => settle(new Error(`the worker was not ready after ${timeoutMs} ms`)), timeoutMs);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, writeFileAtomic } from '@visual-peft/vit-core';
import type { GridPoint } from './result-record';

/** What a job keeps between sessions (`<work>/state.json`): scored grid points and the final run's measurements. */
export interface JobState {
  readonly grid: GridPoint[];
  /** Wall seconds of earlier sessions, up to their last save. */
  seconds: number;
  /** Wall seconds of each final-run step measured so far. */
  readonly stepSeconds: number[];
}

async function readState(path: string): Promise<JobState> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as JobState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { grid: [], seconds: 0, stepSeconds: [] };
    if (error instanceof SyntaxError) throw new FormatError(path, `not valid JSON (${error.message}); delete the job's work folder to start it afresh`);
    throw error;
  }
}

/** A job's state in this session: `seconds()` counts earlier sessions and this one, `save()` writes both atomically. */
export interface JobSession {
  readonly state: JobState;
  seconds(): number;
  save(): Promise<void>;
}

/** Creates `workDir` and reads its `state.json` (a fresh state when there is none); the session's clock starts now. */
export async function openJobSession(workDir: string): Promise<JobSession> {
  const started = performance.now();
  await mkdir(workDir, { recursive: true });
  const path = join(workDir, 'state.json');
  const state = await readState(path);
  const earlier = state.seconds;
  const seconds = () => earlier + (performance.now() - started) / 1000;
  return {
    state,
    seconds,
    save: async () => {
      state.seconds = seconds();
      await writeFileAtomic(path, `${JSON.stringify(state)}\n`);
    },
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * One contender of output-lock.test.ts's takeover race, kept alive over the rounds: prints `ready`;
 * on `go <folder>` takes that folder's lock and prints the outcome (one JSON line, with what it
 * wrote to stderr); on `release` releases what it holds and prints `released`. What it won stays
 * held until `release`, so the other contenders meet a live holder, as they would in real use.
 */
import { createInterface } from 'node:readline';
import { lockOutput, releaseOutputLocks } from '../output-lock';

const print = (value: unknown) => process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
print('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'release') {
    await releaseOutputLocks({ failed: false });
    print('released');
  } else if (line.startsWith('go ')) {
    const notes: string[] = [];
    try {
      await lockOutput(line.slice(3), 'racer', { stdout: () => undefined, stderr: (note) => notes.push(note) });
      print({ pid: process.pid, won: true, notes });
    } catch (error) {
      print({ pid: process.pid, won: false, refused: (error as Error).message, notes });
    }
  }
}

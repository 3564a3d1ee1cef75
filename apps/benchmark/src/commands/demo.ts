import { parseCommandArgs } from '../args';
import type { Io } from '../io';
import { report } from './report';
import { run } from './run';

/** Where `demo` writes without --out: a folder of the working directory, like any output. */
export const DEMO_DEFAULT_OUT = 'visual-peft-demo';

export const DEMO_USAGE =
  `demo [--out <dir> (default ${DEMO_DEFAULT_OUT})] [--only <job id,...>] [--backend auto|tensorflow|wasm|cpu]   ` +
  '(the embedded Fashion-MNIST demo: run --suite demo, then report; its data and backbones ship with the app, a second run skips finished jobs)';

/**
 * The demo in one command: `run --suite demo` and `report` on the same store. The suite, its data
 * and its backbones are the app's own files, found beside the installed command (demo-assets.ts),
 * so it runs from any working directory, an npm install included.
 */
export async function demo(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('demo', args, { out: { type: 'string' }, only: { type: 'string' }, backend: { type: 'string' } });
  const out = flags.out ?? DEMO_DEFAULT_OUT;
  await run(
    ['--suite', 'demo', '--out', out, ...(flags.only === undefined ? [] : ['--only', flags.only]), ...(flags.backend === undefined ? [] : ['--backend', flags.backend])],
    io,
  );
  await report(['--out', out], io);
}

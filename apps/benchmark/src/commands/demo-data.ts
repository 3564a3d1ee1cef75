import { resolve } from 'node:path';
import { DEBIAN_FASHION_MNIST_DIR } from '@visual-peft/datasets';
import { integerFlag, parseCommandArgs } from '../args';
import { DEMO_DATA_DIR } from '../demo-assets';
import { makeDemoData } from '../demo/make-demo-data';
import type { Io } from '../io';

export const DEMO_DATA_USAGE = `demo-data [--from <fashion-mnist dir> (default ${DEBIAN_FASHION_MNIST_DIR})] [--out <dir> (default apps/benchmark/demo/data)] [--seed 0]`;

/**
 * Draws the demo's committed Fashion-MNIST subset from the full release (seeded, per class) and
 * writes it in the release's format; prints what it wrote as one JSON line.
 */
export async function demoData(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('demo-data', args, { from: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' } });
  const from = resolve(flags.from ?? DEBIAN_FASHION_MNIST_DIR);
  const out = resolve(flags.out ?? DEMO_DATA_DIR);
  const summary = await makeDemoData(from, out, integerFlag('seed', flags.seed, 0) ?? 0);
  io.stdout(JSON.stringify({ from, out, ...summary }));
}

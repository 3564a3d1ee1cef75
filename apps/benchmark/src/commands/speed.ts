import { loadavg } from 'node:os';
import { uninstallFastWasmKernels } from '@visual-peft/backends';
import { parseCommandArgs } from '../args';
import type { Io } from '../io';
import { activateVariant } from '../speed/activate';
import { Target } from '../speed/budget';
import { measureBlocks } from '../speed/measure-blocks';
import { measureMatmuls } from '../speed/measure-products';
import { measureSteps } from '../speed/measure-steps';
import { Models } from '../speed/models';
import { planSpeed } from '../speed/plan';
import { renderSpeed, speedHeadline } from '../speed/render';
import type { BackendResult } from '../speed/results';
import { measureTorch } from '../speed/torch';

export const SPEED_USAGE =
  'speed [--backends wasm,wasm-fast,wasm-fast-mt,wasm-onnx,cpu,tensorflow,torch] [--batch 4,8] [--repeats N] [--methods linear,full] [--threads N] [--budget S] [--quick] [--recompute] [--model <preset | config.json>] [--python PATH]';

/**
 * Measures, in one run on this machine, every installed backend and the fast wasm kernels against
 * PyTorch: matrix products at ViT-B shapes, one block forward and forward+backward per batch, and
 * a full training step per method. Prints markdown tables; the last line is one JSON object with
 * `speedupVsStockWasm` and `ratioToPyTorch` (null without PyTorch) for the block at batch 8.
 */
export async function speed(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('speed', args, {
    backends: { type: 'string' },
    batch: { type: 'string' },
    repeats: { type: 'string' },
    methods: { type: 'string' },
    threads: { type: 'string' },
    budget: { type: 'string' },
    quick: { type: 'boolean' },
    recompute: { type: 'boolean' },
    model: { type: 'string' },
    python: { type: 'string' },
  });
  const { plan, backends } = await planSpeed(flags);

  const results: BackendResult[] = [];
  const models = new Models();
  const loadAtStart = loadavg()[0]!;
  for (const id of backends) {
    if (id === 'torch') {
      // Debian's python3-torch lives in the system Python, which a pyenv or venv python3 hides.
      const result = await measureTorch(plan, flags.python === undefined ? ['python3', '/usr/bin/python3'] : [flags.python], io);
      if (result !== null) results.push(result);
      continue;
    }
    const active = await activateVariant(id, plan, io);
    if (active === null) continue;
    const target = new Target(id, id === 'wasm' || id === 'cpu' ? plan.budget : null);
    // The blocks first: on a budgeted backend the headline's neighbours matter more than product rates.
    const blocks = await measureBlocks(plan, io, target, models);
    const { cells: matmuls, rate } = await measureMatmuls(plan, io, target);
    const steps = await measureSteps(plan, io, target, blocks, models, rate);
    results.push({ id, ...active, matmuls, blocks, steps });
  }
  models.dispose();
  await uninstallFastWasmKernels();
  renderSpeed(plan, results, { start: loadAtStart, end: loadavg()[0]! }).forEach((line) => io.stdout(line));
  io.stdout(JSON.stringify(speedHeadline(plan, results)));
}

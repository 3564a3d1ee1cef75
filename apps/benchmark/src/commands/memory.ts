import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BackendPreference } from '@visual-peft/backends';
import { wasmHeapBytes } from '@visual-peft/backends';
import type { VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, VisualPeftError } from '@visual-peft/vit-core';
import { activateBackend } from '../activate-backend';
import { BACKEND_OPTION, backendFlag, integerFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { checkRecompute, findMethod } from '../methods';
import type { OptionValue } from '../set-options';
import { parseSetOptions } from '../set-options';
import { markdownTable } from '../step/markdown-table';
import type { MethodPlan } from '../step/method-plan';
import { planMethods } from '../step/method-plan';
import { profileStep } from '../step/profile-step';
import { runTorchReference } from '../step/torch-reference';
import { trainingStep } from '../step/training-step';

export const MEMORY_USAGE =
  'memory --backbone <preset | config.json> --methods <name,name,...> [--batch 1,2[,4...]] [--recompute] [--classes 100] [--set <method>.<key>=<value> ...] ' +
  '[--backend auto|tensorflow|wasm|cpu] [--torch auto|off] [--python PATH]';

/** Threads of the PyTorch reference: the two cores the papers' numbers are compared on here. */
const TORCH_THREADS = 2;

/** A point failed in its own process for a reason other than the command line. */
export class MeasurementError extends VisualPeftError {}

/** One (method, batch) point: what a fresh process is told to measure. */
interface PointSpec {
  readonly backend: BackendPreference;
  readonly config: VitConfig;
  readonly method: string;
  /** The method's options as given (`stepOptions` adds the backbone-dependent defaults). */
  readonly options: Readonly<Record<string, OptionValue>>;
  readonly batch: number;
  readonly recompute: boolean;
}

interface PointResult {
  /** tf.profile's peakBytes: tensor bytes at their most during the step, weights included. */
  readonly tensorPeakBytes: number;
  /** The wasm heap's size after the step, i.e. its high-water mark; null off wasm. */
  readonly heapBytes: number | null;
}

/** Peak memory of one full training step (forward, backward, optimiser update) of a method, on a zero-weight model. */
async function measurePoint(spec: PointSpec): Promise<PointResult> {
  const model = new VisionTransformer(spec.config, { weights: 'zeros' });
  try {
    const step = await trainingStep(model, spec.method, spec.batch, { options: spec.options, recompute: spec.recompute });
    try {
      return { tensorPeakBytes: (await profileStep(step.run)).peakBytes, heapBytes: wasmHeapBytes() };
    } finally {
      step.dispose();
    }
  } finally {
    model.dispose();
  }
}

/**
 * The built CLI, to run a point in a fresh process: the bundle this code runs from, or, when it
 * runs from the sources (the test runner), the app's dist/cli.js, which must have been built.
 */
function builtCli(): string {
  const here = fileURLToPath(import.meta.url);
  const cli = here.endsWith('.js') ? join(dirname(here), 'cli.js') : fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
  if (!existsSync(cli)) throw new MeasurementError(`memory on wasm measures each point in a fresh process of the built CLI, and ${cli} is missing: build @visual-peft/benchmark first`);
  return cli;
}

/**
 * Measures a point in a new process of this CLI (`memory --point`), which prints one JSON line. A
 * wasm heap only grows, so in one process an earlier point's heap would hide a later, smaller one.
 */
async function measureInFreshProcess(spec: PointSpec): Promise<PointResult> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, [builtCli(), 'memory', '--point', JSON.stringify(spec)], { maxBuffer: 1 << 24 }));
  } catch (error) {
    if (error instanceof MeasurementError) throw error;
    const failure = error as { code?: unknown; stderr?: string; message: string };
    const reason = failure.stderr?.trim().split('\n').at(-1)?.replace(/^visual-peft-bench: /, '') || failure.message;
    const message = `memory: ${spec.method} at batch ${spec.batch} failed in its own process: ${reason}`;
    throw failure.code === 2 ? new UsageError(message) : new MeasurementError(message);
  }
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as PointResult;
}

/** What the hidden `--point` runs: one point, printed as one JSON line. */
async function runPoint(json: string, io: Io): Promise<void> {
  const spec = JSON.parse(json) as PointSpec;
  await activateBackend(spec.backend, io);
  io.stdout(JSON.stringify(await measurePoint(spec)));
}

/** Least-squares slope of `bytes` against `batches`: what one more image costs. */
export function perImageSlope(batches: readonly number[], bytes: readonly number[]): number {
  const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const [meanBatch, meanBytes] = [mean(batches), mean(bytes)];
  let covariance = 0;
  let variance = 0;
  batches.forEach((batch, index) => {
    covariance += (batch - meanBatch) * (bytes[index]! - meanBytes);
    variance += (batch - meanBatch) ** 2;
  });
  return covariance / variance;
}

/** `--batch`: two or more positive integers, ascending, for the slope. */
function batchSizes(value: string): number[] {
  const sizes = value.split(',').map((item) => integerFlag('batch', item.trim(), 1)!);
  if (sizes.length < 2) throw new UsageError(`--batch must list at least two batch sizes (the per-image slope needs two), got ${JSON.stringify(value)}`);
  if (sizes.some((size, index) => index > 0 && size <= sizes[index - 1]!)) {
    throw new UsageError(`--batch must list each size once, in ascending order, got ${JSON.stringify(value)}`);
  }
  return sizes;
}

/** `--set <method>.<key>=<value>` per method of `--methods`; each method checks its own options when built. */
function methodOptions(pairs: readonly string[], methods: readonly string[]): Map<string, Record<string, OptionValue>> {
  const settings = new Map<string, string[]>(methods.map((method) => [method, []]));
  for (const pair of pairs) {
    const match = /^([^.=]+)\.(.*)$/.exec(pair);
    if (match === null) throw new UsageError(`--set must be <method>.<key>=<value>, got ${JSON.stringify(pair)}`);
    const list = settings.get(match[1]!);
    if (list === undefined) throw new UsageError(`--set ${pair} names method ${JSON.stringify(match[1])}, which --methods does not list (${methods.join(',')})`);
    list.push(match[2]!);
  }
  return new Map([...settings].map(([method, list]) => [method, parseSetOptions(list)]));
}

/** What tooling/reference/memory_torch.py prints. */
interface TorchMemoryReport {
  readonly torchVersion: string;
  readonly threads: number;
  readonly methods: Readonly<Record<string, { trainable: number; peakRssBytes: number[]; savedBytes: number[] }>>;
  readonly absent: Readonly<Record<string, string>>;
}

interface TorchColumns {
  readonly trainable: number;
  readonly peakRssBytes: readonly number[];
  readonly savedBytes: readonly number[];
  readonly rssPerImageBytes: number;
  readonly savedPerImageBytes: number;
}

interface MethodResult {
  readonly plan: MethodPlan;
  /** Per batch: the heap's high-water mark on wasm, else the tensor peak. */
  readonly peakBytes: number[];
  readonly tensorPeakBytes: number[];
  readonly torch: TorchColumns | null;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

function render(results: readonly MethodResult[], batches: readonly number[], heap: boolean, torch: TorchMemoryReport | null): string[] {
  const header = ['method', 'trainable parameters', ...batches.map((batch) => `peak at batch ${batch} (MiB)${heap ? ': heap (tensors)' : ''}`), 'per image (MiB)'];
  if (heap) header.push('tensors per image (MiB)');
  if (torch !== null) header.push('PyTorch RSS per image (MiB)', 'PyTorch saved per image (MiB)', 'ratio to PyTorch RSS', 'ratio to PyTorch saved');
  const rows = results.map((result) => {
    const perImage = perImageSlope(batches, result.peakBytes);
    const cells = [
      result.plan.name,
      result.plan.trainable.toLocaleString('en-US'),
      ...result.peakBytes.map((bytes, index) => (heap ? `${mib(bytes)} (${mib(result.tensorPeakBytes[index]!)})` : mib(bytes))),
      mib(perImage),
    ];
    if (heap) cells.push(mib(perImageSlope(batches, result.tensorPeakBytes)));
    if (torch !== null) {
      const columns = result.torch;
      // A slope at or below zero is noise (a model too small for the process's own growth to show): no ratio.
      const ratio = (reference: number) => (reference > 0 ? (perImage / reference).toFixed(2) : '—');
      cells.push(...(columns === null ? ['—', '—', '—', '—'] : [mib(columns.rssPerImageBytes), mib(columns.savedPerImageBytes), ratio(columns.rssPerImageBytes), ratio(columns.savedPerImageBytes)]));
    }
    return cells;
  });
  return markdownTable(header, rows);
}

/** How the peak was measured, for the caption. */
function peakCaption(backend: string): string {
  const tensors = "tf.profile's peak of tensor bytes (weights included; a buffer is counted once per tensor viewing it)";
  if (backend === 'wasm') return `Peak: the wasm heap's high-water mark (its size after the step, each point in a fresh process); in parentheses ${tensors}.`;
  if (backend === 'tensorflow') return `Peak: ${tensors}. On tfjs-node this counts tensors only: TensorFlow's own allocator, its workspaces and caches are not seen.`;
  return `Peak: ${tensors}.`;
}

/**
 * Measures the peak memory of one training step (forward, backward, optimiser update) per method
 * and batch size on the same backbone, and the per-image slope; with PyTorch, its reference beside.
 * Prints a Markdown table and, as its last line, one JSON object:
 * `{"<method>": {"perImageBytes", "peakBytes": [per batch], ...}}`.
 */
export async function memory(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('memory', args, {
    backbone: { type: 'string' },
    methods: { type: 'string' },
    batch: { type: 'string' },
    recompute: { type: 'boolean' },
    classes: { type: 'string' },
    set: { type: 'string', multiple: true },
    torch: { type: 'string' },
    python: { type: 'string' },
    point: { type: 'string' },
    ...BACKEND_OPTION,
  });
  if (flags.point !== undefined) {
    if (Object.keys(flags).length > 1) throw new UsageError('memory: --point is internal (one measurement in a fresh process) and takes no other flag');
    return runPoint(flags.point, io);
  }
  const backbone = requireFlag('memory', 'backbone', flags.backbone);
  const names = requireFlag('memory', 'methods', flags.methods).split(',').map((name) => name.trim());
  const recompute = flags.recompute === true;
  // Each method is measured on its own, so each one must recompute something.
  names.forEach((name) => checkRecompute(recompute, [findMethod(name)]));
  if (new Set(names).size !== names.length) throw new UsageError(`--methods lists a method twice: ${names.join(',')}`);
  const batches = batchSizes(flags.batch ?? '1,2');
  const options = methodOptions(flags.set ?? [], names);
  const torchMode = flags.torch ?? 'auto';
  if (torchMode !== 'auto' && torchMode !== 'off') throw new UsageError(`--torch must be auto or off, got ${JSON.stringify(torchMode)}`);
  const numClasses = integerFlag('classes', flags.classes, 1) ?? 100;
  const config = await resolveBackbone(backbone, { numClasses });
  const info = await activateBackend(backendFlag(flags.backend), io);
  const heap = info.backend === 'wasm';
  const plans = planMethods(config, options);

  const measured: Array<{ plan: MethodPlan; points: PointResult[] }> = [];
  for (const plan of plans) {
    const points: PointResult[] = [];
    for (const batch of batches) {
      const spec: PointSpec = { backend: info.backend as BackendPreference, config, method: plan.name, options: plan.options, batch, recompute };
      const point = heap ? await measureInFreshProcess(spec) : await measurePoint(spec);
      io.stderr(`${plan.name}, batch ${batch}: ${point.heapBytes === null ? '' : `heap ${mib(point.heapBytes)} MiB, `}tensors ${mib(point.tensorPeakBytes)} MiB`);
      points.push(point);
    }
    measured.push({ plan, points });
  }

  let torch: TorchMemoryReport | null = null;
  if (torchMode === 'auto') {
    const torchPlan = { model: config, numClasses, batches, threads: TORCH_THREADS, recompute, methods: plans.map((plan) => ({ name: plan.name, config: plan.config })) };
    const pythons = [flags.python ?? '/usr/bin/python3'];
    torch = (await runTorchReference('memory_torch.py', ['--plan', JSON.stringify(torchPlan)], { pythons, threads: TORCH_THREADS }, io)) as TorchMemoryReport | null;
  }
  const results: MethodResult[] = measured.map(({ plan, points }) => {
    const reference = torch?.methods[plan.name];
    if (reference !== undefined && reference.trainable !== plan.trainable) {
      io.stderr(`torch: ${plan.name} trains ${reference.trainable} parameters in the reference and ${plan.trainable} here: its columns compare different models`);
    }
    return {
      plan,
      peakBytes: points.map((point) => point.heapBytes ?? point.tensorPeakBytes),
      tensorPeakBytes: points.map((point) => point.tensorPeakBytes),
      torch:
        reference === undefined
          ? null
          : { ...reference, rssPerImageBytes: perImageSlope(batches, reference.peakRssBytes), savedPerImageBytes: perImageSlope(batches, reference.savedBytes) },
    };
  });

  const recomputed = recompute ? ', blocks recomputed in the backward pass (--recompute)' : '';
  io.stdout(`Peak memory of one training step (forward, backward, SGD with momentum${recomputed}): ${backbone}, ${config.imgSize.join('x')}, ${numClasses} classes, ${info.backend} backend`);
  io.stdout('');
  render(results, batches, heap, torch).forEach((line) => io.stdout(line));
  io.stdout('');
  io.stdout(`${peakCaption(info.backend)} Per image: the least-squares slope of the peak over batch sizes ${batches.join(', ')}.`);
  if (torch !== null) {
    io.stdout(
      `PyTorch ${torch.torchVersion}, ${torch.threads} threads, the same steps${recompute ? ' with torch.utils.checkpoint per block' : ''}, each point in a fresh process: ` +
        "RSS per image is the slope of the step's peak resident set (getrusage) above the set before it; saved per image the slope of the bytes autograd saved for the backward pass; " +
        'each ratio is our per image over that one.',
    );
    const absent = Object.entries(torch.absent);
    if (absent.length > 0) io.stdout(`No PyTorch reference for: ${absent.map(([name, why]) => `${name} (${why})`).join('; ')}.`);
  }
  const json = results.map((result) => {
    const round = (bytes: number) => Math.round(bytes);
    const tensors = heap ? { tensorPeakBytes: result.tensorPeakBytes, tensorPerImageBytes: round(perImageSlope(batches, result.tensorPeakBytes)) } : {};
    const torchColumns =
      result.torch === null ? {} : { torch: { ...result.torch, rssPerImageBytes: round(result.torch.rssPerImageBytes), savedPerImageBytes: round(result.torch.savedPerImageBytes) } };
    return [result.plan.name, { perImageBytes: round(perImageSlope(batches, result.peakBytes)), peakBytes: result.peakBytes, trainable: result.plan.trainable, ...tensors, ...torchColumns }];
  });
  io.stdout(JSON.stringify(Object.fromEntries(json)));
}

import { availableParallelism, cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo, BackendPreference } from '@visual-peft/backends';
import { installFastWasmKernels, resolveBackend, uninstallFastWasmKernels } from '@visual-peft/backends';
import type { VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, applyTrainablePolicy, leanVariableGrads, numPrefixTokens, patchGrid, resolveVitConfig } from '@visual-peft/vit-core';
import { integerFlag, parseCommandArgs } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { METHODS } from '../methods';
import { runTorchReference } from '../step/torch-reference';
import { trainingStep } from '../step/training-step';

export const SPEED_USAGE =
  'speed [--backends wasm,wasm-fast,wasm-fast-mt,wasm-onnx,cpu,tensorflow,torch] [--batch 4,8] [--repeats N] [--methods linear,full] [--threads N] [--budget S] [--quick] [--recompute] [--model <preset | config.json>] [--python PATH]';

/** Training steps measured by default: the baselines and the papers' methods (any registered name may be added). */
const DEFAULT_METHODS = ['linear', 'vpt-deep', 'gated-prompt', 'vqt', 'sct', 'full'];
/** Methods the PyTorch reference implements. */
const TORCH_METHODS: ReadonlySet<string> = new Set(['linear', 'full']);
const NUM_CLASSES = 100;
/** A first run longer than this is the measurement: one-time costs are small against it. */
const SLOW_SECONDS = 5;

type TfjsBackendId = 'wasm' | 'wasm-fast' | 'wasm-fast-mt' | 'wasm-onnx' | 'cpu' | 'tensorflow';
type BackendId = TfjsBackendId | 'torch';
const BACKEND_IDS: readonly BackendId[] = ['wasm', 'wasm-fast', 'wasm-fast-mt', 'wasm-onnx', 'cpu', 'tensorflow', 'torch'];
/** The wasm backend with the fast kernels, in each of their forms. */
const FAST_IDS: ReadonlySet<BackendId> = new Set(['wasm-fast', 'wasm-fast-mt', 'wasm-onnx']);

/** One matrix product at the model's shapes, as tf.matMul takes it. */
interface MatMulSpec {
  readonly name: string;
  readonly a: number[];
  readonly b: number[];
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly flops: number;
}

/** A measured time, or why there is none. */
type Cell = { readonly seconds: number; readonly runs: number; readonly peakBytes?: number; readonly batch?: number } | { readonly skipped: string };

interface BackendResult {
  readonly id: BackendId;
  /** Column header. */
  readonly label: string;
  /** What exactly ran, for the legend. */
  readonly detail: string;
  readonly matmuls: Map<string, Cell>;
  /** Keyed `${batch} forward` / `${batch} forward+backward`. */
  readonly blocks: Map<string, Cell>;
  readonly steps: Map<string, Cell>;
}

interface Plan {
  readonly config: VitConfig;
  readonly batches: readonly number[];
  readonly stepBatch: number;
  readonly headlineBatch: number;
  readonly repeats: number;
  readonly methods: readonly string[];
  /** Training steps with TrainerOptions.recompute (per-block activation checkpointing). */
  readonly recompute: boolean;
  readonly threads: number;
  /** Seconds each reference backend (stock wasm, cpu) may take, its headline cell aside. */
  readonly budget: number;
  readonly matmuls: readonly MatMulSpec[];
}

/** The models measured, made once per tfjs backend: ViT-B's random initialisation takes seconds. */
class Models {
  private readonly models = new Map<'block' | 'whole', VisionTransformer>();
  private backend: string | null = null;

  get(kind: 'block' | 'whole', config: VitConfig): VisionTransformer {
    if (this.backend !== tf.getBackend()) {
      this.dispose();
      this.backend = tf.getBackend();
    }
    let model = this.models.get(kind);
    if (model === undefined) {
      const shape = kind === 'block' ? { depth: 1, numClasses: 0 } : { numClasses: NUM_CLASSES };
      model = new VisionTransformer(resolveVitConfig({ ...config, ...shape }), { seed: kind === 'block' ? 1 : 2 });
      this.models.set(kind, model);
    }
    return model;
  }

  dispose(): void {
    this.models.forEach((model) => model.dispose());
    this.models.clear();
  }
}

function listFlag(name: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw new UsageError(`--${name} must be a comma-separated list, got ${JSON.stringify(value)}`);
  return items;
}

function positiveIntegers(name: string, value: string | undefined): number[] | undefined {
  return listFlag(name, value)?.map((item) => integerFlag(name, item, 1)!);
}

/** Tokens per image: prefix tokens and patches. */
function tokenCount(config: VitConfig): number {
  const [rows, columns] = patchGrid(config);
  return numPrefixTokens(config) + rows * columns;
}

/** The products of one block's forward and backward at batch `batch`: linear layers and attention. */
function matmulSpecs(config: VitConfig, batch: number): MatMulSpec[] {
  const tokens = tokenCount(config);
  const dim = config.embedDim;
  const hidden = dim * config.mlpRatio;
  const heads = config.numHeads;
  const headDim = dim / heads;
  const r = batch * tokens;
  const linear = 2 * r * dim * hidden;
  const attention = 2 * batch * heads * tokens * tokens * headDim;
  const spec = (name: string, a: number[], b: number[], transposeA: boolean, transposeB: boolean, flops: number): MatMulSpec => ({ name, a, b, transposeA, transposeB, flops });
  return [
    spec('fc1 forward: x W', [r, dim], [dim, hidden], false, false, linear),
    spec('fc1 input gradient: dy W^T', [r, hidden], [dim, hidden], false, true, linear),
    spec('fc1 weight gradient: x^T dy', [r, dim], [r, hidden], true, false, linear),
    spec('fc1 on 3-D tokens: [B, T, D] W', [batch, tokens, dim], [dim, hidden], false, false, linear),
    spec('attention logits: q k^T per head', [batch, heads, tokens, headDim], [batch, heads, tokens, headDim], false, true, attention),
    spec('attention mix: p v per head', [batch, heads, tokens, tokens], [batch, heads, tokens, headDim], false, false, attention),
  ];
}

/**
 * Wall time of `run`: one warm-up, then the median of `repeats` runs; a warm-up over SLOW_SECONDS
 * is the measurement itself. The warm-up runs under tf.profile for the peak tensor memory.
 */
async function measure(run: () => void | Promise<void>, repeats: number): Promise<Cell> {
  const warmStart = performance.now();
  const profile = await tf.profile(run);
  const warmSeconds = (performance.now() - warmStart) / 1000;
  if (warmSeconds > SLOW_SECONDS) return { seconds: warmSeconds, runs: 1, peakBytes: profile.peakBytes };
  const times: number[] = [];
  for (let index = 0; index < repeats; index++) {
    const start = performance.now();
    await run();
    times.push((performance.now() - start) / 1000);
  }
  times.sort((x, y) => x - y);
  return { seconds: times[Math.floor(times.length / 2)]!, runs: repeats, peakBytes: profile.peakBytes };
}

const secondsOf = (cell: Cell | undefined): number | null => (cell !== undefined && 'seconds' in cell ? cell.seconds : null);

/**
 * A backend being measured. The reference backends (stock wasm, cpu: 10 to 100 times slower) have a
 * time budget: a cell that would end past it is skipped, except the headline.
 */
class Target {
  private readonly start = performance.now();

  constructor(
    readonly id: TfjsBackendId,
    private readonly budget: number | null,
  ) {}

  /** Why a cell estimated to take `estimate` seconds is skipped, or null to run it. */
  skip(estimate: number | null): string | null {
    if (this.budget === null) return null;
    const spent = (performance.now() - this.start) / 1000;
    if (spent + (estimate ?? 0) <= this.budget) return null;
    return estimate === null ? `over the ${this.budget} s budget` : `≈${Math.round(estimate)} s, over the ${this.budget} s budget`;
  }
}

/** Runs `run` unless the target's budget says to skip it. */
async function measureWithin(plan: Plan, target: Target, estimate: number | null, run: () => void, headline = false): Promise<Cell> {
  const skipped = headline ? null : target.skip(estimate);
  return skipped === null ? measure(run, plan.repeats) : { skipped };
}

async function measureMatmuls(plan: Plan, io: Io, target: Target): Promise<{ cells: Map<string, Cell>; rate: number | null }> {
  const cells = new Map<string, Cell>();
  let rate: number | null = null;
  for (const spec of plan.matmuls) {
    const [a, b] = [tf.randomNormal(spec.a, 0, 1, 'float32', 1), tf.randomNormal(spec.b, 0, 1, 'float32', 2)];
    const cell = await measureWithin(plan, target, rate === null ? null : spec.flops / rate, () => tf.tidy(() => void tf.matMul(a, b, spec.transposeA, spec.transposeB).dataSync()));
    tf.dispose([a, b]);
    const seconds = secondsOf(cell);
    if (seconds !== null) rate = Math.max(rate ?? 0, spec.flops / seconds);
    io.stderr(`${target.id}: ${spec.name}: ${seconds === null ? 'skipped' : `${(spec.flops / seconds / 1e9).toFixed(1)} GFLOP/s`}`);
    cells.set(spec.name, cell);
  }
  return { cells, rate };
}

/** Flops of one block's forward pass at `batch`: its four linear layers and attention's two products. */
function blockFlops(config: VitConfig, batch: number): number {
  const tokens = tokenCount(config);
  const dim = config.embedDim;
  const linear = 2 * batch * tokens * dim * (3 * dim + dim + 2 * dim * config.mlpRatio);
  return linear + 2 * (2 * batch * tokens * tokens * dim);
}

/** Seconds a pass at `batch` should take, scaled from the last batch measured (null: unknown). */
function scaled(previous: { batch: number; seconds: number | null } | null, batch: number): number | null {
  return previous === null || previous.seconds === null ? null : (previous.seconds * batch) / previous.batch;
}

/** One block of the model, forward and forward+backward (gradients of every weight), per batch. */
async function measureBlocks(plan: Plan, io: Io, target: Target, models: Models): Promise<Map<string, Cell>> {
  const cells = new Map<string, Cell>();
  const model = models.get('block', plan.config);
  applyTrainablePolicy(model, 'full');
  const block = model.blocks[0]!;
  const weights = block.parameters.map((parameter) => parameter.variable);
  const context = { training: false, seed: undefined, imageOffset: 0, recompute: false, state: new Map(), blockIndex: 0, depth: 1 };
  const tokens = tokenCount(plan.config);
  let lastForward: { batch: number; seconds: number | null } | null = null;
  let lastBackward: { batch: number; seconds: number | null } | null = null;
  for (const batch of plan.batches) {
    const x = tf.randomNormal([batch, tokens, plan.config.embedDim], 0, 1, 'float32', 3) as tf.Tensor3D;
    const forwardEstimate = scaled(lastForward, batch);
    const forward = await measureWithin(plan, target, forwardEstimate, () => tf.tidy(() => void block.forward(x, context).dataSync()));
    // Without an earlier batch, forward+backward takes at least three forwards.
    const forwardSeconds = secondsOf(forward) ?? forwardEstimate;
    const backwardEstimate = scaled(lastBackward, batch) ?? (forwardSeconds === null ? null : 3 * forwardSeconds);
    const backward = await measureWithin(
      plan,
      target,
      backwardEstimate,
      () =>
        tf.tidy(() => {
          const { value, grads } = leanVariableGrads(() => tf.sum(block.forward(x, context)), weights);
          value.dataSync();
          Object.values(grads).forEach((gradient) => gradient.dataSync());
        }),
      target.id === 'wasm' && batch === plan.headlineBatch,
    );
    tf.dispose(x);
    cells.set(`${batch} forward`, forward);
    cells.set(`${batch} forward+backward`, backward);
    io.stderr(`${target.id}: block batch ${batch}: forward ${describe(forward)}, forward+backward ${describe(backward)}`);
    lastForward = { batch, seconds: secondsOf(forward) };
    lastBackward = { batch, seconds: secondsOf(backward) };
  }
  return cells;
}

const describe = (cell: Cell): string => ('seconds' in cell ? `${cell.seconds.toFixed(3)} s` : `skipped (${cell.skipped})`);

/** tfjs-backend-wasm is a 32-bit WebAssembly module: its heap holds at most 4 GiB. */
const WASM_HEAP_BYTES = 2 ** 32;

/**
 * The largest batch up to the plan's step batch whose step should fit the wasm heap, from one step at batch 1.
 * tfjs keeps every activation saved for the backward pass and every intermediate gradient until
 * the pass ends (about 1 GiB per ViT-B image when gradients flow through the whole backbone), so
 * such a step at batch 8 cannot fit. tf.memory()'s peak counts a buffer once per tensor viewing it,
 * so the estimate errs on the small side. Runs on the wasm backend only.
 */
async function batchThatFits(plan: Plan, model: VisionTransformer, method: string): Promise<number> {
  const probe = await trainingStep(model, method, 1, { recompute: plan.recompute });
  try {
    if (probe.stateBytes >= WASM_HEAP_BYTES) return 0;
    const perImage = Math.max((await tf.profile(probe.run)).peakBytes - probe.stateBytes, 1);
    return Math.min(plan.stepBatch, Math.floor((WASM_HEAP_BYTES - probe.stateBytes) / perImage));
  } finally {
    probe.dispose();
  }
}

async function measureSteps(plan: Plan, io: Io, target: Target, blocks: Map<string, Cell>, models: Models, rate: number | null): Promise<Map<string, Cell>> {
  const cells = new Map<string, Cell>();
  // A skipped block pass is estimated from its flops at the best product rate measured.
  const fromRate = (passes: number) => (rate === null ? null : (passes * blockFlops(plan.config, plan.stepBatch)) / rate);
  const forward = secondsOf(blocks.get(`${plan.stepBatch} forward`)) ?? fromRate(1);
  const backward = secondsOf(blocks.get(`${plan.stepBatch} forward+backward`)) ?? fromRate(3);
  for (const method of plan.methods) {
    const perBlock = method === 'linear' ? forward : backward;
    const skipped = target.skip(perBlock === null ? null : perBlock * plan.config.depth);
    if (skipped !== null) {
      cells.set(method, { skipped });
      continue;
    }
    const model = models.get('whole', plan.config);
    const batch = tf.getBackend() === 'wasm' ? await batchThatFits(plan, model, method) : plan.stepBatch;
    if (batch === 0) {
      cells.set(method, { skipped: 'does not fit the 4 GiB wasm heap' });
      continue;
    }
    const step = await trainingStep(model, method, batch, { recompute: plan.recompute });
    try {
      const cell = { ...(await measure(step.run, plan.repeats)), batch };
      cells.set(method, cell);
      io.stderr(`${target.id}: training step ${method}, batch ${batch}: ${describe(cell)}`);
    } finally {
      step.dispose();
    }
  }
  return cells;
}

/** Activates a tfjs backend variant; null when it is not installed (the reason goes to stderr). */
async function activate(id: TfjsBackendId, plan: Plan, io: Io): Promise<{ label: string; detail: string } | null> {
  await uninstallFastWasmKernels();
  let info: BackendInfo;
  try {
    info = await resolveBackend(FAST_IDS.has(id) ? 'wasm' : (id as BackendPreference), { importModule: (specifier) => import(specifier) });
  } catch (error) {
    io.stderr(`${id}: not available: ${(error as Error).message}`);
    return null;
  }
  const detail = `${info.package} ${info.packageVersion}, ${info.device}`;
  if (id === 'wasm-onnx') {
    try {
      const { threads, gemm } = await installFastWasmKernels({ threads: plan.threads, gemm: 'onnxruntime' });
      return { label: `wasm fast + onnxruntime, ${threads} thread${threads === 1 ? '' : 's'}`, detail: `${detail}, with installFastWasmKernels({ threads: ${threads}, gemm: 'onnxruntime' }): ${gemm}` };
    } catch (error) {
      io.stderr(`${id}: not available: ${(error as Error).message}`);
      return null;
    }
  }
  if (id === 'wasm-fast' || id === 'wasm-fast-mt') {
    const { threads } = await installFastWasmKernels({ threads: id === 'wasm-fast' ? 1 : plan.threads });
    const label = `wasm fast, ${threads} thread${threads === 1 ? '' : 's'}`;
    return { label, detail: `${detail}, with installFastWasmKernels({ threads: ${threads} })` };
  }
  return { label: id === 'wasm' ? 'wasm stock' : id === 'cpu' ? 'cpu' : 'tfjs-node', detail };
}

interface TorchReport {
  readonly torchVersion: string;
  readonly threads: number;
  readonly blas: Record<string, unknown>;
  readonly matmuls: Record<string, number>;
  readonly blocks: ReadonlyArray<{ batch: number; forward: number; forwardBackward: number }>;
  readonly steps: ReadonlyArray<{ method: string; batch: number; seconds: number; peakBytes: number }>;
}

/**
 * Runs tooling/reference/bench_torch.py with the first of `pythons` that has torch; null (each
 * reason on stderr) when none has, or the script is missing.
 */
async function runTorch(plan: Plan, pythons: readonly string[], io: Io): Promise<TorchReport | null> {
  const torchPlan = {
    threads: plan.threads,
    repeats: plan.repeats,
    model: { ...plan.config, imgSize: plan.config.imgSize[0] },
    matmuls: plan.matmuls,
    blockBatches: plan.batches,
    stepBatch: plan.stepBatch,
    methods: plan.methods.filter((method) => TORCH_METHODS.has(method)),
    numClasses: NUM_CLASSES,
  };
  return (await runTorchReference('bench_torch.py', ['--plan', JSON.stringify(torchPlan)], { pythons, threads: plan.threads }, io)) as TorchReport | null;
}

function torchResult(report: TorchReport): BackendResult {
  const cell = (seconds: number, peakBytes?: number): Cell => ({ seconds, runs: 0, ...(peakBytes === undefined ? {} : { peakBytes }) });
  const blocks = new Map<string, Cell>();
  for (const block of report.blocks) {
    blocks.set(`${block.batch} forward`, cell(block.forward));
    blocks.set(`${block.batch} forward+backward`, cell(block.forwardBackward));
  }
  const blas = report.blas as { libraries: string[]; openblasCore: string | null };
  return {
    id: 'torch',
    label: 'PyTorch',
    detail: `PyTorch ${report.torchVersion}, ${report.threads} threads, BLAS ${blas.libraries.find((library) => library.includes('blas')) ?? 'unknown'}${blas.openblasCore === null ? '' : ` (OpenBLAS core ${blas.openblasCore})`}`,
    matmuls: new Map(Object.entries(report.matmuls).map(([name, seconds]) => [name, cell(seconds)])),
    blocks,
    steps: new Map(report.steps.map((step) => [step.method, cell(step.seconds, step.peakBytes)])),
  };
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
}

function render(plan: Plan, results: readonly BackendResult[], load: { start: number; end: number }): string[] {
  const labels = results.map((result) => result.label);
  const show = (cell: Cell | undefined, format: (seconds: number) => string) =>
    cell === undefined ? '—' : 'skipped' in cell ? `skipped (${cell.skipped})` : format(cell.seconds);
  const lines: string[] = [
    // Timings are wall-clock: a load above the core count means other processes took cores from these runs.
    `Machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.versions.node}, load average ${load.start.toFixed(1)} at the start, ${load.end.toFixed(1)} at the end.`,
    '',
    'Backends:',
    ...results.map((result) => `- ${result.label}: ${result.detail}`),
    '',
  ];
  lines.push(`Matrix products at the model's shapes, batch ${plan.stepBatch} (GFLOP/s):`, '');
  lines.push(
    ...table(
      ['product', 'A x B', ...labels],
      plan.matmuls.map((spec) => [
        spec.name,
        `[${spec.a.join(', ')}] x [${spec.b.join(', ')}]`,
        ...results.map((result) => show(result.matmuls.get(spec.name), (seconds) => (spec.flops / seconds / 1e9).toFixed(1))),
      ]),
    ),
  );
  lines.push('', `One block, seconds (median of ${plan.repeats} after a warm-up; the first run alone when over ${SLOW_SECONDS} s):`, '');
  const passes = plan.batches.flatMap((batch) => ['forward', 'forward+backward'].map((pass) => `${batch} ${pass}`));
  lines.push(
    ...table(
      ['batch', 'pass', ...labels],
      passes.map((key) => [key.split(' ')[0]!, key.split(' ')[1]!, ...results.map((result) => show(result.blocks.get(key), (seconds) => seconds.toFixed(3)))]),
    ),
  );
  // PyTorch's steps keep every activation: with --recompute its column is the cost without recomputation.
  const recompute = plan.recompute ? ', tfjs blocks recomputed in the backward pass (TrainerOptions.recompute; PyTorch without)' : '';
  lines.push('', `Training step (forward, backward, SGD with momentum${recompute}), batch ${plan.stepBatch}: images/s, peak tensor memory:`, '');
  lines.push(
    ...table(
      ['method', ...labels],
      plan.methods.map((method) => [
        method,
        ...results.map((result) => {
          const cell = result.steps.get(method);
          if (cell === undefined || 'skipped' in cell) return show(cell, String);
          const batch = cell.batch ?? plan.stepBatch;
          const peak = cell.peakBytes === undefined ? '' : `, ${Math.round(cell.peakBytes / 2 ** 20)} MiB`;
          return `${(batch / cell.seconds).toFixed(2)}${peak}${batch === plan.stepBatch ? '' : ` (batch ${batch}: ${plan.stepBatch} does not fit the 4 GiB wasm heap)`}`;
        }),
      ]),
    ),
  );
  return lines;
}

/** The headline: one block's forward+backward at the headline batch, fastest wasm variant against stock wasm and PyTorch. */
function headline(plan: Plan, results: readonly BackendResult[]): Record<string, unknown> {
  const key = `${plan.headlineBatch} forward+backward`;
  const seconds: Partial<Record<BackendId, number | null>> = Object.fromEntries(results.map((result) => [result.id, secondsOf(result.blocks.get(key))]));
  const fast = results
    .filter((result) => FAST_IDS.has(result.id))
    .map((result) => ({ id: result.id, seconds: secondsOf(result.blocks.get(key)) }))
    .filter((entry): entry is { id: BackendId; seconds: number } => entry.seconds !== null)
    .sort((x, y) => x.seconds - y.seconds)[0];
  const ratio = (numerator: number | null = null, denominator: number | null = null) =>
    numerator === null || denominator === null ? null : Number((numerator / denominator).toPrecision(3));
  return {
    benchmark: 'speed',
    measure: `one ViT block forward+backward (all weights), batch ${plan.headlineBatch}`,
    fastest: fast?.id ?? null,
    threads: plan.threads,
    seconds,
    speedupVsStockWasm: ratio(seconds.wasm, fast?.seconds),
    ratioToPyTorch: ratio(fast?.seconds, seconds.torch),
  };
}

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
  const quick = flags.quick === true;
  const requested = listFlag('backends', flags.backends);
  for (const id of requested ?? []) {
    if (!(BACKEND_IDS as readonly string[]).includes(id)) throw new UsageError(`--backends must list some of ${BACKEND_IDS.join(', ')}, got ${JSON.stringify(id)}`);
  }
  const threads = integerFlag('threads', flags.threads, 1) ?? availableParallelism();
  const backends = (requested as BackendId[] | undefined) ?? BACKEND_IDS.filter((id) => !(quick && id === 'cpu') && !(id === 'wasm-fast-mt' && threads === 1));
  const batches = positiveIntegers('batch', flags.batch) ?? (quick ? [8] : [4, 8]);
  const methods = listFlag('methods', flags.methods) ?? (quick ? ['linear'] : DEFAULT_METHODS);
  for (const method of methods) {
    if (!METHODS.has(method)) throw new UsageError(`--methods must be one of ${[...METHODS.keys()].join(', ')}, got ${JSON.stringify(method)}`);
  }
  const config = await resolveBackbone(flags.model ?? 'vit_base_patch16_224');
  const stepBatch = Math.max(...batches);
  const plan: Plan = {
    config,
    batches,
    stepBatch,
    headlineBatch: batches.includes(8) ? 8 : stepBatch,
    repeats: integerFlag('repeats', flags.repeats, 1) ?? (quick ? 1 : 2),
    methods,
    recompute: flags.recompute === true,
    threads,
    budget: integerFlag('budget', flags.budget, 1) ?? 120,
    matmuls: matmulSpecs(config, stepBatch),
  };

  const results: BackendResult[] = [];
  const models = new Models();
  const loadAtStart = loadavg()[0]!;
  for (const id of backends) {
    if (id === 'torch') {
      // Debian's python3-torch lives in the system Python, which a pyenv or venv python3 hides.
      const report = await runTorch(plan, flags.python === undefined ? ['python3', '/usr/bin/python3'] : [flags.python], io);
      if (report !== null) results.push(torchResult(report));
      continue;
    }
    const active = await activate(id, plan, io);
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
  render(plan, results, { start: loadAtStart, end: loadavg()[0]! }).forEach((line) => io.stdout(line));
  io.stdout(JSON.stringify(headline(plan, results)));
}

import type { Io } from '../io';
import { planMethods } from '../step/method-plan';
import { runTorchReference } from '../step/torch-reference';
import type { Plan } from './plan';
import { NUM_CLASSES } from './plan';
import type { BackendResult, Cell } from './results';

/** What tooling/reference/bench_torch.py prints. */
interface TorchReport {
  readonly torchVersion: string;
  readonly threads: number;
  readonly blas: Record<string, unknown>;
  readonly matmuls: Record<string, number>;
  readonly blocks: ReadonlyArray<{ batch: number; forward: number; forwardBackward: number }>;
  readonly steps: ReadonlyArray<{ method: string; batch: number; seconds: number; peakBytes: number }>;
  /** Methods it has no reference for, and why. */
  readonly absent: Readonly<Record<string, string>>;
}

function torchResult(report: TorchReport): BackendResult {
  const cell = (seconds: number, peakBytes?: number): Cell => ({ seconds, runs: 0, ...(peakBytes === undefined ? {} : { peakBytes }) });
  const blocks = new Map<string, Cell>();
  for (const block of report.blocks) {
    blocks.set(`${block.batch} forward`, cell(block.forward));
    blocks.set(`${block.batch} forward+backward`, cell(block.forwardBackward));
  }
  const blas = report.blas as { libraries: string[]; openblasCore: string | null; belowCpu?: boolean };
  const below = blas.belowCpu === true ? ` (OpenBLAS picked its ${blas.openblasCore} kernels on a CPU with AVX2: it does not recognise this CPU, so PyTorch's products run well below what the CPU can do and ratios to it overstate ours)` : '';
  return {
    id: 'torch',
    label: 'PyTorch',
    detail: `PyTorch ${report.torchVersion}, ${report.threads} threads, BLAS ${blas.libraries.find((library) => library.includes('blas')) ?? 'unknown'}${blas.openblasCore === null ? '' : ` (OpenBLAS core ${blas.openblasCore})`}${below}`,
    matmuls: new Map(Object.entries(report.matmuls).map(([name, seconds]) => [name, cell(seconds)])),
    blocks,
    steps: new Map<string, Cell>([
      ...report.steps.map((step): [string, Cell] => [step.method, cell(step.seconds, step.peakBytes)]),
      ...Object.entries(report.absent).map(([method, why]): [string, Cell] => [method, { skipped: why }]),
    ]),
  };
}

/**
 * The plan run by tooling/reference/bench_torch.py with the first of `pythons` that has torch; null
 * (each reason on stderr) when none has, or the script is missing.
 */
export async function measureTorch(plan: Plan, pythons: readonly string[], io: Io): Promise<BackendResult | null> {
  const torchPlan = {
    threads: plan.threads,
    repeats: plan.repeats,
    model: { ...plan.config, imgSize: plan.config.imgSize[0] },
    matmuls: plan.matmuls,
    blockBatches: plan.batches,
    stepBatch: plan.stepBatch,
    // Each method as the tfjs step builds it (its resolved options), for memory_torch.py's model; it reports those it lacks.
    methods: planMethods(plan.config, new Map(plan.methods.map((method) => [method, {}]))).map(({ name, config }) => ({ name, config })),
    numClasses: NUM_CLASSES,
  };
  const report = (await runTorchReference('bench_torch.py', ['--plan', JSON.stringify(torchPlan)], { pythons, threads: plan.threads }, io)) as TorchReport | null;
  return report === null ? null : torchResult(report);
}

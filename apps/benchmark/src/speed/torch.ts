import type { Io } from '../io';
import { runTorchReference } from '../step/torch-reference';
import type { Plan } from './plan';
import { NUM_CLASSES } from './plan';
import type { BackendResult, Cell } from './results';

/** Methods the PyTorch reference implements. */
const TORCH_METHODS: ReadonlySet<string> = new Set(['linear', 'full']);

/** What tooling/reference/bench_torch.py prints. */
interface TorchReport {
  readonly torchVersion: string;
  readonly threads: number;
  readonly blas: Record<string, unknown>;
  readonly matmuls: Record<string, number>;
  readonly blocks: ReadonlyArray<{ batch: number; forward: number; forwardBackward: number }>;
  readonly steps: ReadonlyArray<{ method: string; batch: number; seconds: number; peakBytes: number }>;
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
    methods: plan.methods.filter((method) => TORCH_METHODS.has(method)),
    numClasses: NUM_CLASSES,
  };
  const report = (await runTorchReference('bench_torch.py', ['--plan', JSON.stringify(torchPlan)], { pythons, threads: plan.threads }, io)) as TorchReport | null;
  return report === null ? null : torchResult(report);
}

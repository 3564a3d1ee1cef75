import { availableParallelism, cpus } from 'node:os';
import { markdownTable } from '../step/markdown-table';
import { SLOW_SECONDS } from './budget';
import type { BackendId, Plan } from './plan';
import { FAST_IDS } from './plan';
import type { BackendResult, Cell } from './results';
import { secondsOf } from './results';

/** The Markdown report: the machine, the backends, then the products', blocks' and training steps' tables. */
export function renderSpeed(plan: Plan, results: readonly BackendResult[], load: { start: number; end: number }): string[] {
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
    ...markdownTable(
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
    ...markdownTable(
      ['batch', 'pass', ...labels],
      passes.map((key) => [key.split(' ')[0]!, key.split(' ')[1]!, ...results.map((result) => show(result.blocks.get(key), (seconds) => seconds.toFixed(3)))]),
    ),
  );
  // PyTorch's steps keep every activation: with --recompute its column is the cost without recomputation.
  const recompute = plan.recompute ? ', tfjs blocks recomputed in the backward pass (TrainerOptions.recompute; PyTorch without)' : '';
  lines.push('', `Training step (forward, backward, SGD with momentum${recompute}), batch ${plan.stepBatch}: images/s, peak tensor memory:`, '');
  lines.push(
    ...markdownTable(
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
export function speedHeadline(plan: Plan, results: readonly BackendResult[]): Record<string, unknown> {
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

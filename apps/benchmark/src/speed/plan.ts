import { availableParallelism } from 'node:os';
import type { VitConfig } from '@visual-peft/vit-core';
import { integerFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import { METHODS } from '../methods';
import type { MatMulSpec } from './shapes';
import { matmulSpecs } from './shapes';

export type TfjsBackendId = 'wasm' | 'wasm-fast' | 'wasm-fast-mt' | 'wasm-onnx' | 'cpu' | 'tensorflow';
export type BackendId = TfjsBackendId | 'torch';
export const BACKEND_IDS: readonly BackendId[] = ['wasm', 'wasm-fast', 'wasm-fast-mt', 'wasm-onnx', 'cpu', 'tensorflow', 'torch'];
/** The wasm backend with the fast kernels, in each of their forms. */
export const FAST_IDS: ReadonlySet<BackendId> = new Set(['wasm-fast', 'wasm-fast-mt', 'wasm-onnx']);

/** Training steps measured by default: the baselines and the papers' methods (any registered name may be added). */
const DEFAULT_METHODS = ['linear', 'vpt-deep', 'gated-prompt', 'vqt', 'sct', 'full'];
/** Classes of the measured model's head. */
export const NUM_CLASSES = 100;

/** What one `speed` run measures. */
export interface Plan {
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

/** `speed`'s flags as parsed, before their checks and defaults. */
export interface SpeedFlags {
  readonly backends?: string;
  readonly batch?: string;
  readonly repeats?: string;
  readonly methods?: string;
  readonly threads?: string;
  readonly budget?: string;
  readonly quick?: boolean;
  readonly recompute?: boolean;
  readonly model?: string;
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

/**
 * Checks `speed`'s flags and fills their defaults, in the order the command line is read: the
 * backends to measure (every one by default; `--quick` leaves cpu out, one thread wasm-fast-mt),
 * the batches, methods and model, then what to measure at them.
 */
export async function planSpeed(flags: SpeedFlags): Promise<{ plan: Plan; backends: BackendId[] }> {
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
  return { plan, backends };
}

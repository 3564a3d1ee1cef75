import { totalmem } from 'node:os';
import type { BackendInfo } from '@visual-peft/backends';
import type { Trainer } from '@visual-peft/training';
import { sliceBatch } from '@visual-peft/training';
import type { ImageBatch } from '@visual-peft/vit-core';
import type { SystemProbe } from '../doctor/system-probe';
import { gpuMemoryBytes, systemProbe } from '../doctor/system-probe';
import { UsageError } from '../errors';
import { gradientPass, profileStep } from './profile-step';

/** The share of the memory budget `auto` plans to fill: the rest is headroom (see `chooseMicroBatch`). */
export const MICRO_BATCH_MARGIN = 0.8;

/** The share of the host's memory that counts as the budget on the CPU backends. */
export const HOST_MEMORY_SHARE = 0.5;

/** tfjs-backend-wasm's heap is 32-bit WebAssembly memory: it cannot grow past 4 GiB. */
export const WASM_HEAP_LIMIT = 2 ** 32;

/** How much memory training may use, and where that number comes from. */
export interface MemoryBudget {
  readonly bytes: number;
  readonly source: string;
}

/** What `--micro-batch` asks for: a fixed number of images per pass, or the largest that fits the budget. */
export type MicroBatchSetting = number | { readonly auto: MemoryBudget };

/** Peak tensor bytes of a forward and backward pass of one and of two images, and the trainable weights' bytes. */
export interface MicroBatchProbe {
  readonly peakOne: number;
  readonly peakTwo: number;
  readonly trainableBytes: number;
}

/** The micro-batch a run uses, and for `auto` the arithmetic that chose it. */
export interface MicroBatchChoice {
  readonly microBatch: number;
  readonly batchSize: number;
  readonly auto: {
    readonly budget: MemoryBudget;
    readonly perImageBytes: number;
    readonly fixedBytes: number;
    /** False when even one image per pass exceeds the planned share of the budget. */
    readonly fits: boolean;
  } | null;
}

/**
 * `--micro-batch`: absent (undefined: the whole batch), `auto`, or an integer from 1 to the batch
 * size; `batch` names where the batch size comes from in the message.
 */
export function microBatchFlag(value: string | undefined, batchSize: number, batch = `--batch-size ${batchSize}`): number | 'auto' | undefined {
  if (value === undefined || value === 'auto') return value;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1 || parsed > batchSize) {
    throw new UsageError(`--micro-batch must be auto or an integer from 1 to the batch size (${batch}), got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/**
 * The `auto` rule. A pass over n images peaks at about fixed + n * perImage bytes: the slope of
 * two probe passes (1 and 2 images) is the per-image cost, and the one-image peak less that slope
 * is what does not scale with the images (weights, an EMA, one set of gradients). Three more
 * copies of the trainable weights are added for what a probe pass does not hold but a step does:
 * the running sum of the micro-batches' gradients and the optimiser's slots (two for Adam and
 * AdamW, one for SGD with momentum). The micro-batch is the largest n with fixed + n * perImage
 * within `MICRO_BATCH_MARGIN` (80%) of the budget, between 1 and the batch size; the 20% left is
 * headroom for what tf.profile does not see (a kernel's scratch memory, the allocator's
 * fragmentation, the data pipeline). A slope of zero (no per-image cost measured) gives the whole batch.
 */
export function chooseMicroBatch(batchSize: number, budget: MemoryBudget, probe: MicroBatchProbe): MicroBatchChoice {
  const perImageBytes = Math.max(probe.peakTwo - probe.peakOne, 0);
  const fixedBytes = probe.peakOne - perImageBytes + 3 * probe.trainableBytes;
  const available = MICRO_BATCH_MARGIN * budget.bytes - fixedBytes;
  const fits = available >= perImageBytes;
  const largest = perImageBytes === 0 ? batchSize : Math.floor(available / perImageBytes);
  const microBatch = Math.min(batchSize, Math.max(1, largest));
  return { microBatch, batchSize, auto: { budget, perImageBytes, fixedBytes, fits } };
}

/**
 * The memory a run may plan with on the active backend: on wasm the heap's 4 GiB limit; on the
 * tensorflow backend with a CUDA device the smallest GPU memory nvidia-smi lists; otherwise (cpu,
 * tensorflow on the CPU, or no answer from nvidia-smi) half the host's memory, which the process
 * shares with the data pipeline and the system.
 */
export async function memoryBudget(backend: BackendInfo, probe: SystemProbe = systemProbe, hostBytes = totalmem()): Promise<MemoryBudget> {
  if (backend.backend === 'wasm') return { bytes: WASM_HEAP_LIMIT, source: 'the wasm heap limit' };
  if (backend.backend === 'tensorflow' && backend.device.startsWith('GPU')) {
    const gpu = await gpuMemoryBytes(probe);
    if (gpu !== null) return { bytes: gpu, source: 'GPU memory (nvidia-smi)' };
  }
  return { bytes: Math.floor(HOST_MEMORY_SHARE * hostBytes), source: 'half the host memory' };
}

/**
 * Two probe passes as `trainer` runs them (forward and backward, the gradients freed, no update):
 * the first one and the first two images of `batch`, each measured by tf.profile's peak.
 */
export async function probeMicroBatch(trainer: Trainer, batch: ImageBatch): Promise<MicroBatchProbe> {
  const peak = async (images: number) => (await profileStep(gradientPass(trainer, sliceBatch(batch, 0, images)))).peakBytes;
  const peakOne = await peak(1);
  const peakTwo = await peak(2);
  const trainableBytes = trainer.parameters.reduce((sum, parameter) => sum + 4 * parameter.variable.size, 0);
  return { peakOne, peakTwo, trainableBytes };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** One line for stderr: the micro-batch and, for `auto`, why. */
export function describeMicroBatch(choice: MicroBatchChoice): string {
  const head = `micro-batch ${choice.microBatch} of ${choice.batchSize} images per pass`;
  if (choice.auto === null) return head;
  const { budget, perImageBytes, fixedBytes, fits } = choice.auto;
  const rule = `auto: ${mib(perImageBytes)} per image, ${mib(fixedBytes)} fixed, ${Math.round(100 * MICRO_BATCH_MARGIN)}% of ${mib(budget.bytes)} (${budget.source})`;
  return `${head} (${rule}${fits ? '' : '; even one image exceeds that share, so the run may run out of memory'})`;
}

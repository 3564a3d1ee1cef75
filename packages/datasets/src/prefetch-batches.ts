import { integer } from '@visual-peft/vit-core';
import { CorruptImageError } from './dataset-error';
import { SeededRandom, deriveSeed } from '@visual-peft/vit-core';

/** How a split becomes batches: order, size, look-ahead and what to do with broken images. */
export interface LoaderOptions {
  /** Images per batch. Required (VPT 128, GatedPT and SCT 64, SPT 32, ADE20K 16). */
  readonly batchSize: number;
  /** Reshuffle every epoch from (seed, epoch). Default false (evaluation order). */
  readonly shuffle?: boolean;
  /** Seed of the shuffle and of every augmentation draw. Default 0. */
  readonly seed?: number;
  /** Drop the last incomplete batch. Default false; the papers' training loaders use true. */
  readonly dropLast?: boolean;
  /**
   * Batches decoded ahead of the consumer. Default 2. Memory is bounded by this many batches plus
   * `concurrency` images being decoded, whatever the dataset's size.
   */
  readonly prefetch?: number;
  /** Images decoded at once (sharp runs them on libuv's thread pool, 4 threads by default). Default 4. */
  readonly concurrency?: number;
  /**
   * Leave out images that fail to decode instead of stopping, and list them in the source's
   * `skipped` (a batch that lost images is smaller). Default false: the first one throws.
   */
  readonly skipCorrupt?: boolean;
  /** Called once per skipped image as it is found (with `skipCorrupt`). */
  readonly onSkip?: (error: CorruptImageError) => void;
}

export type ResolvedLoaderOptions = Required<Omit<LoaderOptions, 'onSkip'>> & Pick<LoaderOptions, 'onSkip'>;

export function resolveLoaderOptions(input: LoaderOptions): ResolvedLoaderOptions {
  const options = { shuffle: false, seed: 0, dropLast: false, prefetch: 2, concurrency: 4, skipCorrupt: false, ...input };
  for (const field of ['batchSize', 'prefetch', 'concurrency'] as const) integer(field, options[field], 1);
  integer('seed', options.seed, 0);
  return options;
}

/** The example indices of each batch of one epoch: seeded shuffle (or in order), then chunks. */
export function planEpoch(count: number, epoch: number, options: ResolvedLoaderOptions): number[][] {
  integer('epoch', epoch, 0);
  const order = Array.from({ length: count }, (_, i) => i);
  if (options.shuffle) new SeededRandom(deriveSeed(options.seed, epoch)).shuffle(order);
  const batches: number[][] = [];
  for (let start = 0; start < count; start += options.batchSize) {
    const batch = order.slice(start, start + options.batchSize);
    if (batch.length < options.batchSize && options.dropLast) break;
    batches.push(batch);
  }
  return batches;
}

/** Builds one batch in place: each example is written into its slot as soon as it is decoded. */
export interface BatchWriter<B> {
  write(index: number, slot: number, random: SeededRandom): Promise<void>;
  /** The batch from the slots that were written, in slot order. */
  finish(slots: readonly number[]): B;
}

/** Records skipped images once each (an image broken in epoch 1 is broken in epoch 2 too). */
export class SkipLog {
  private readonly byImage = new Map<string, CorruptImageError>();

  constructor(private readonly onSkip?: (error: CorruptImageError) => void) {}

  record(error: CorruptImageError): void {
    if (this.byImage.has(error.image)) return;
    this.byImage.set(error.image, error);
    this.onSkip?.(error);
  }

  get skipped(): readonly CorruptImageError[] {
    return [...this.byImage.values()];
  }
}

/** Runs at most `limit` tasks at once, first come first served. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * One epoch of batches with a bounded look-ahead: while the consumer holds batch k, batches
 * k+1..k+prefetch are being decoded. Leaving the loop early stops the look-ahead and waits for the
 * images already being decoded, so nothing runs on after the consumer is gone.
 */
export async function* prefetchBatches<B>(
  plan: readonly (readonly number[])[],
  createWriter: (size: number) => BatchWriter<B>,
  options: ResolvedLoaderOptions,
  epoch: number,
  skipLog: SkipLog,
): AsyncGenerator<B> {
  const limiter = new Limiter(options.concurrency);
  let stopped = false;

  const build = async (indices: readonly number[]): Promise<B | null> => {
    const writer = createWriter(indices.length);
    const results = await Promise.allSettled(
      indices.map((index, slot) =>
        limiter.run(async () => {
          if (stopped) return false;
          try {
            // Randomness keyed by the example, not by decode order: prefetching cannot change a run.
            await writer.write(index, slot, new SeededRandom(deriveSeed(options.seed, epoch, index + 1)));
            return true;
          } catch (error) {
            if (options.skipCorrupt && error instanceof CorruptImageError) {
              skipLog.record(error);
              return false;
            }
            throw error;
          }
        }),
      ),
    );
    const failure = results.find((result) => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    const slots = results.flatMap((result, slot) => (result.status === 'fulfilled' && result.value ? [slot] : []));
    return slots.length === 0 ? null : writer.finish(slots);
  };

  const pending: Promise<B | null>[] = [];
  let next = 0;
  const fill = (): void => {
    while (pending.length < options.prefetch && next < plan.length) {
      const batch = build(plan[next++]!);
      // Rejections are delivered when the consumer reaches this batch, not as unhandled ones.
      batch.catch(() => undefined);
      pending.push(batch);
    }
  };
  try {
    fill();
    while (pending.length > 0) {
      const batch = await pending.shift()!;
      fill();
      if (batch !== null) yield batch;
    }
  } finally {
    stopped = true;
    await Promise.allSettled(pending);
  }
}

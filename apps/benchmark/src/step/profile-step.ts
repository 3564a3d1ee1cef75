import * as tf from '@tensorflow/tfjs-core';
import type { Trainer } from '@visual-peft/training';
import type { ImageBatch } from '@visual-peft/vit-core';

/** What one training step costs: its peak tensor memory and its wall time. */
export interface StepProfile {
  /** tf.profile's peakBytes over the first run: tensor bytes at their most, weights included. */
  readonly peakBytes: number;
  /** Wall seconds: the first run's, or the median of the timed runs after it. */
  readonly seconds: number;
  /** How many runs `seconds` is taken over. */
  readonly runs: number;
}

export interface ProfileStepOptions {
  /**
   * Timed runs after the profiled one; with any, the profiled run is a warm-up and `seconds` their
   * median. Default 0: the profiled run's own seconds (tf.profile's bookkeeping included).
   */
  readonly repeats?: number;
  /** A profiled run longer than this is the measurement itself: one-time costs are small against it. Default: no limit. */
  readonly slowSeconds?: number;
}

/**
 * Runs one step under tf.profile for its peak tensor memory and times it: the one step profiler of
 * `speed`, `memory`, the suite's records and the micro-batch probe.
 */
export async function profileStep(run: () => void | Promise<void>, options: ProfileStepOptions = {}): Promise<StepProfile> {
  const started = performance.now();
  const { peakBytes } = await tf.profile(run);
  const seconds = (performance.now() - started) / 1000;
  const repeats = options.repeats ?? 0;
  if (repeats === 0 || seconds > (options.slowSeconds ?? Infinity)) return { peakBytes, seconds, runs: 1 };
  const times: number[] = [];
  for (let index = 0; index < repeats; index++) {
    const start = performance.now();
    await run();
    times.push((performance.now() - start) / 1000);
  }
  times.sort((x, y) => x - y);
  return { peakBytes, seconds: times[Math.floor(times.length / 2)]!, runs: repeats };
}

/** A fixed pass: seeded, so that the draws (and the memory) are those of a training step. */
const PROFILED_PASS = { seed: 0, epoch: 0, globalStep: 0 } as const;

/**
 * One training pass as `trainer` runs it: forward and backward over its micro-batches, the
 * gradients computed and freed, no update applied.
 */
export function gradientPass(trainer: Trainer, batch: ImageBatch): () => void {
  return () => {
    const { loss, gradients } = trainer.gradients(batch, PROFILED_PASS);
    tf.dispose([loss, ...gradients.values()]);
  };
}

import { profileStep } from '../step/profile-step';
import type { Plan, TfjsBackendId } from './plan';
import type { Cell } from './results';

/** A first run longer than this is the measurement: one-time costs are small against it. */
export const SLOW_SECONDS = 5;

/**
 * A backend being measured. The reference backends (stock wasm, cpu: 10 to 100 times slower) have a
 * time budget: a cell that would end past it is skipped, except the headline.
 */
export class Target {
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

/**
 * Wall time of `run`: one warm-up (under tf.profile, for the peak tensor memory), then the median
 * of the plan's repeats; a warm-up over SLOW_SECONDS is the measurement itself.
 */
export function measure(plan: Plan, run: () => void | Promise<void>): Promise<Cell> {
  return profileStep(run, { repeats: plan.repeats, slowSeconds: SLOW_SECONDS });
}

/** Runs `run` unless the target's budget says to skip it. */
export async function measureWithin(plan: Plan, target: Target, estimate: number | null, run: () => void, headline = false): Promise<Cell> {
  const skipped = headline ? null : target.skip(estimate);
  return skipped === null ? measure(plan, run) : { skipped };
}

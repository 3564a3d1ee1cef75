import { ConfigError } from '@visual-peft/vit-core';
import { polySchedule } from './segmentation-loop';

/**
 * mmseg's poly schedule at 0-based iteration `i` of `maxIterations`: (base - min) * (1 - i /
 * maxIterations)^power + min.
 * @deprecated Use `@visual-peft/training`'s `LearningRateSchedule` with `kind: 'poly'` (what
 * `SegmentationLoop` schedules with); this wrapper goes in the next release.
 */
export function polyLearningRate(base: number, iteration: number, maxIterations: number, power: number, min: number): number {
  if (!Number.isInteger(iteration) || iteration < 0 || iteration > maxIterations) {
    throw new ConfigError('iteration', iteration, `must be an integer in [0, ${maxIterations}] (maxIterations)`);
  }
  return polySchedule(maxIterations, power, min).at(base, iteration);
}

import * as tf from '@tensorflow/tfjs-core';
import type { Io } from '../io';
import type { Target } from './budget';
import { measureWithin } from './budget';
import type { Plan } from './plan';
import type { Cell } from './results';
import { secondsOf } from './results';

/** The plan's matrix products on the active backend; `rate` is the best flops per second measured (null: none ran). */
export async function measureMatmuls(plan: Plan, io: Io, target: Target): Promise<{ cells: Map<string, Cell>; rate: number | null }> {
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

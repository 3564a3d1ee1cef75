import * as tf from '@tensorflow/tfjs-core';
import type { Io } from '../io';
import { trainingStep } from '../step/training-step';
import type { Target } from './budget';
import { measure } from './budget';
import type { Models } from './models';
import type { Plan } from './plan';
import type { Cell } from './results';
import { describeCell, secondsOf } from './results';
import { blockFlops } from './shapes';
import { batchThatFits } from './wasm-heap';

/** A full training step per method of the plan, on the whole model; on wasm at the largest batch that fits its heap. */
export async function measureSteps(plan: Plan, io: Io, target: Target, blocks: Map<string, Cell>, models: Models, rate: number | null): Promise<Map<string, Cell>> {
  const cells = new Map<string, Cell>();
  // A skipped block pass is estimated from its flops at the best product rate measured.
  const fromRate = (passes: number) => (rate === null ? null : (passes * blockFlops(plan.config, plan.stepBatch)) / rate);
  const forward = secondsOf(blocks.get(`${plan.stepBatch} forward`)) ?? fromRate(1);
  const backward = secondsOf(blocks.get(`${plan.stepBatch} forward+backward`)) ?? fromRate(3);
  for (const method of plan.methods) {
    const perBlock = method === 'linear' ? forward : backward;
    const skipped = target.skip(perBlock === null ? null : perBlock * plan.config.depth);
    if (skipped !== null) {
      cells.set(method, { skipped });
      continue;
    }
    const model = models.get('whole', plan.config);
    const batch = tf.getBackend() === 'wasm' ? await batchThatFits(plan, model, method) : plan.stepBatch;
    if (batch === 0) {
      cells.set(method, { skipped: 'does not fit the 4 GiB wasm heap' });
      continue;
    }
    const step = await trainingStep(model, method, batch, { recompute: plan.recompute });
    try {
      const cell = { ...(await measure(plan, step.run)), batch };
      cells.set(method, cell);
      io.stderr(`${target.id}: training step ${method}, batch ${batch}: ${describeCell(cell)}`);
    } finally {
      step.dispose();
    }
  }
  return cells;
}

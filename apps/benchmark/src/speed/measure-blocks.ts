import * as tf from '@tensorflow/tfjs-core';
import { applyTrainablePolicy, leanVariableGrads } from '@visual-peft/vit-core';
import type { Io } from '../io';
import type { Target } from './budget';
import { measureWithin } from './budget';
import type { Models } from './models';
import type { Plan } from './plan';
import type { Cell } from './results';
import { describeCell, secondsOf } from './results';
import { tokenCount } from './shapes';

/** Seconds a pass at `batch` should take, scaled from the last batch measured (null: unknown). */
function scaled(previous: { batch: number; seconds: number | null } | null, batch: number): number | null {
  return previous === null || previous.seconds === null ? null : (previous.seconds * batch) / previous.batch;
}

/** One block of the model, forward and forward+backward (gradients of every weight), per batch. */
export async function measureBlocks(plan: Plan, io: Io, target: Target, models: Models): Promise<Map<string, Cell>> {
  const cells = new Map<string, Cell>();
  const model = models.get('block', plan.config);
  applyTrainablePolicy(model, 'full');
  const block = model.blocks[0]!;
  const weights = block.parameters.map((parameter) => parameter.variable);
  const context = { training: false, seed: undefined, imageOffset: 0, recompute: false, state: new Map(), blockIndex: 0, depth: 1 };
  const tokens = tokenCount(plan.config);
  let lastForward: { batch: number; seconds: number | null } | null = null;
  let lastBackward: { batch: number; seconds: number | null } | null = null;
  for (const batch of plan.batches) {
    const x = tf.randomNormal([batch, tokens, plan.config.embedDim], 0, 1, 'float32', 3) as tf.Tensor3D;
    const forwardEstimate = scaled(lastForward, batch);
    const forward = await measureWithin(plan, target, forwardEstimate, () => tf.tidy(() => void block.forward(x, context).dataSync()));
    // Without an earlier batch, forward+backward takes at least three forwards.
    const forwardSeconds = secondsOf(forward) ?? forwardEstimate;
    const backwardEstimate = scaled(lastBackward, batch) ?? (forwardSeconds === null ? null : 3 * forwardSeconds);
    const backward = await measureWithin(
      plan,
      target,
      backwardEstimate,
      () =>
        tf.tidy(() => {
          const { value, grads } = leanVariableGrads(() => tf.sum(block.forward(x, context)), weights);
          value.dataSync();
          Object.values(grads).forEach((gradient) => gradient.dataSync());
        }),
      target.id === 'wasm' && batch === plan.headlineBatch,
    );
    tf.dispose(x);
    cells.set(`${batch} forward`, forward);
    cells.set(`${batch} forward+backward`, backward);
    io.stderr(`${target.id}: block batch ${batch}: forward ${describeCell(forward)}, forward+backward ${describeCell(backward)}`);
    lastForward = { batch, seconds: secondsOf(forward) };
    lastBackward = { batch, seconds: secondsOf(backward) };
  }
  return cells;
}

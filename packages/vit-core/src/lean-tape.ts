import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, MissingGradientError, asMissingGradient } from './errors';
import { withoutSaving } from './ops';

/**
 * A backward pass that frees memory as it goes, and per-block recomputation, on tfjs's own tape.
 *
 * tfjs's `engine.gradients` keeps every tensor saved for the backward pass and every intermediate
 * gradient until the whole backward pass ends, so a training step's backward peak is the forward's
 * saved tensors plus the gradient of every activation. PyTorch's autograd frees each saved tensor
 * once its node has run and each gradient once it has been consumed. `leanVariableGrads` walks the
 * same tape in the same order with the same gradient functions (so the gradients are bit-identical
 * to `tf.variableGrads`) and frees as PyTorch does.
 *
 * The tape is engine state that tfjs-core 4.x keeps on `tf.engine().state`: `activeTape` (the nodes
 * recorded, each with its inputs, outputs, saved tensors and gradient function), `gradientDepth`
 * (> 0 while recording), `kernelDepth` and `nextTapeNodeId`. This module reads and sets only those,
 * through the narrow `EngineInternals` view below.
 */

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; kernelDepth: number; nextTapeNodeId: number };
  gradients<T extends tf.Tensor>(f: () => T, xs: tf.Tensor[], dy?: T, allowNoGradients?: boolean): { value: T; grads: Array<tf.Tensor | null> };
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

/** True while a gradient tape records (inside `tf.grads`/`variableGrads`/`leanVariableGrads`, outside a kernel). */
export function isTapeRecording(): boolean {
  const { state } = engine();
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/** Records `f` on a tape of its own (the engine's tape is put back afterwards) and returns both. */
function record<T>(f: () => T): { result: T; tape: TapeNode[] } {
  const internals = engine();
  const outer = internals.state.activeTape;
  const depth = internals.state.gradientDepth;
  const tape: TapeNode[] = [];
  internals.state.activeTape = tape;
  internals.state.gradientDepth = depth + 1;
  try {
    return { result: tf.tidy(f as () => tf.TensorContainer) as T, tape };
  } catch (error) {
    releaseTape(tape);
    throw error;
  } finally {
    internals.state.gradientDepth = depth;
    internals.state.activeTape = outer;
  }
}

/**
 * The nodes of `tape` that depend on one of `xs` and lead to one of `ys`, each with only the inputs
 * that depend on `xs` (the others get no gradient). The same selection as tfjs's own tape filter.
 */
function pathFromTo(tape: readonly TapeNode[], xs: readonly tf.Tensor[], ys: readonly tf.Tensor[]): Array<TapeNode & { pruned: string[] }> {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      nodesFromX.add(node.id);
      for (const output of node.outputs) fromX.add(output.id);
    }
  }
  const toY = new Set(ys.map((y) => y.id));
  const nodesToY = new Set<number>();
  for (let index = tape.length - 1; index >= 0; index -= 1) {
    const node = tape[index]!;
    if (node.outputs.some((output) => toY.has(output.id))) {
      nodesToY.add(node.id);
      for (const input of Object.values(node.inputs)) toY.add(input.id);
    }
  }
  return tape
    .filter((node) => nodesFromX.has(node.id) && nodesToY.has(node.id))
    .map((node) => ({
      ...node,
      inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, input]) => fromX.has(input.id))),
      pruned: Object.entries(node.inputs).filter(([, input]) => !fromX.has(input.id)).map(([name]) => name),
    }));
}

/**
 * Back-propagates `seeds` (gradient of each output tensor) through `tape` to `xs`, freeing each
 * node's saved tensors once it has run and each gradient once every consumer has used it. Returns
 * the gradient of each x (null where none flows). Runs inside the caller's tidy scope.
 */
function backprop(tape: readonly TapeNode[], xs: readonly tf.Tensor[], seeds: ReadonlyMap<tf.Tensor, tf.Tensor>): Array<tf.Tensor | null> {
  const path = pathFromTo(tape, xs, [...seeds.keys()]);
  const wanted = new Set(xs.map((x) => x.id));
  const gradients = new Map<number, tf.Tensor>();
  // A gradient function may hand back a tensor it was given: count the map's references per tensor
  // so that a tensor is freed only when nothing holds it any more.
  const holders = new Map<tf.Tensor, number>();
  const hold = (id: number, gradient: tf.Tensor) => {
    gradients.set(id, gradient);
    holders.set(gradient, (holders.get(gradient) ?? 0) + 1);
  };
  const release = (gradient: tf.Tensor) => {
    const count = (holders.get(gradient) ?? 0) - 1;
    if (count > 0) holders.set(gradient, count);
    else {
      holders.delete(gradient);
      gradient.dispose();
    }
  };
  const drop = (id: number) => {
    const gradient = gradients.get(id);
    if (gradient === undefined) return;
    gradients.delete(id);
    release(gradient);
  };
  for (const [output, seed] of seeds) hold(output.id, seed);

  for (let index = path.length - 1; index >= 0; index -= 1) {
    const node = path[index]!;
    if (node.gradient === undefined) {
      throw new MissingGradientError(node.kernelName);
    }
    const inputGradients = node.gradient(node.outputs.map((output) => gradients.get(output.id) ?? null));
    for (const [name, input] of Object.entries(node.inputs)) {
      const compute = inputGradients[name];
      if (compute === undefined) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}.`);
      const gradient = tf.tidy(compute);
      if (gradient.dtype !== 'float32') {
        throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of input '${name}' must be float32, got ${gradient.dtype}`);
      }
      if (!tf.util.arraysEqual(gradient.shape, input.shape)) {
        throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of input '${name}' has shape [${gradient.shape}], the input [${input.shape}]`);
      }
      const previous = gradients.get(input.id);
      if (previous === undefined) hold(input.id, gradient);
      else {
        const sum = tf.add(previous, gradient);
        drop(input.id);
        if (!holders.has(gradient)) gradient.dispose();
        hold(input.id, sum);
      }
    }
    // A custom gradient (tf.customGrad, a recomputed block) computed every input's gradient at once,
    // those the path does not need included: free them now rather than when the pass ends. A
    // kernel's registered gradient is lazy per input, and calling it would compute it.
    if (tf.getGradient(node.kernelName) === undefined) for (const name of node.pruned) inputGradients[name]?.().dispose();
    // Every consumer of this node's outputs ran before it (the tape is in forward order).
    for (const output of node.outputs) if (!wanted.has(output.id)) drop(output.id);
    for (const saved of node.saved ?? []) saved.dispose();
  }
  const result = xs.map((x) => gradients.get(x.id) ?? null);
  for (const id of [...gradients.keys()]) if (!wanted.has(id)) drop(id);
  return result;
}

/** Frees what the tape still saves (nodes off the path to the loss, and any left by an error). */
function releaseTape(tape: readonly TapeNode[]): void {
  for (const node of tape) for (const saved of node.saved ?? []) saved.dispose();
}

/**
 * Gradients of the scalar `f()` with respect to `xs`, as `tf.grads` computes them (same tape, same
 * gradient functions, same order: bit-identical results), with each saved tensor and each
 * intermediate gradient freed as soon as the backward pass is done with it. Inside another tape
 * (higher-order gradients), where nothing may be freed early, it is tfjs's own `gradients`.
 */
export function leanGradients(f: () => tf.Scalar, xs: readonly tf.Tensor[]): { value: tf.Scalar; grads: Array<tf.Tensor | null> } {
  if (engine().state.gradientDepth > 0) {
    try {
      return engine().gradients(f, [...xs], undefined, true);
    } catch (error) {
      throw asMissingGradient(error);
    }
  }
  const { result: value, tape } = record(f);
  if (!(value instanceof tf.Tensor) || value.rank !== 0) {
    releaseTape(tape);
    tf.dispose(value as tf.TensorContainer);
    throw new ConfigError('f', value instanceof tf.Tensor ? `a rank-${value.rank} tensor` : typeof value, 'must return a scalar tensor (the loss)');
  }
  try {
    const grads = tf.tidy(() => backprop(tape, xs, new Map([[value, tf.onesLike(value)]])) as tf.Tensor[]) as Array<tf.Tensor | null>;
    return { value, grads };
  } catch (error) {
    value.dispose();
    throw error;
  } finally {
    releaseTape(tape);
  }
}

/**
 * `tf.variableGrads` with the lean backward pass of `leanGradients`: the gradient of the scalar
 * `f()` for each trainable variable of `variables` that it depends on, by variable name.
 */
export function leanVariableGrads(f: () => tf.Scalar, variables: readonly tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const trainable = variables.filter((variable) => variable.trainable);
  if (trainable.length === 0) throw new ConfigError('variables', variables.length, 'must hold at least one trainable variable');
  const { value, grads } = leanGradients(f, trainable);
  if (grads.every((gradient) => gradient === null)) {
    value.dispose();
    throw new ConfigError('variables', trainable.map((variable) => variable.name).join(', '), 'must include a variable the loss depends on');
  }
  const named: tf.NamedTensorMap = {};
  trainable.forEach((variable, index) => {
    const gradient = grads[index];
    if (gradient !== null && gradient !== undefined) named[variable.name] = gradient;
  });
  return { value, grads: named };
}

/**
 * Runs `segment(input)` (a transformer block) so that a recording gradient tape keeps only what
 * it reads from outside (its input, the variables it uses), not its activations: the tape gets one
 * node whose backward pass runs the segment again on a private tape and back-propagates through
 * it (activation checkpointing, Chen et al. 2016). `segment` must compute the same function when
 * run again: its random draws must be seeded. Without a recording tape it simply runs `segment`.
 *
 * Every tensor the segment returns is an output of the node (a block's tokens, keys and values,
 * query outputs), so gradients reach the segment's input and every tensor it read from outside.
 * Those outside tensors (other than `input`) must still be alive when the backward pass runs.
 */
export function recomputeSegment<T extends tf.TensorContainer>(name: string, input: tf.Tensor, segment: (input: tf.Tensor) => T): T {
  if (!isTapeRecording()) return tf.tidy(() => segment(input));
  // Tensor ids only grow: anything with an id below this one existed before the segment started.
  const firstId = tf.tidy(() => tf.scalar(0).id);
  // This run's tape only tells what the segment reads: the lean ops keep nothing for it.
  const { result, tape } = record(() => withoutSaving(() => segment(input)));
  // What the segment read from outside: inputs of its nodes made before it started (constants the
  // segment makes itself, such as the scalar of `tf.mul(x, 0.5)`, are made again when it reruns).
  const produced = madeBy(tape);
  const outside = new Map<number, tf.Tensor>();
  for (const node of tape) {
    for (const read of Object.values(node.inputs)) if (read.id < firstId && read.id !== input.id) outside.set(read.id, read);
  }
  // The first run's saved tensors are not needed: the backward pass records the segment again.
  releaseTape(tape);
  const outputs = collectTensors(result).filter((tensor) => produced.has(tensor.id));
  if (outputs.length === 0) return result;

  // Gradients flow to the input and to what can carry one: trainable variables and tensors computed
  // earlier on the tape. Frozen weights and constants are read again but get none (no weight
  // gradient of a frozen layer is computed).
  const internals = engine();
  const onTape = madeBy(internals.state.activeTape!);
  const allReads = [...outside.values()];
  const reads = allReads.filter(
    (read) => read.dtype === 'float32' && (read instanceof tf.Variable ? read.trainable : onTape.has(read.id)),
  );
  const kept = tf.keep(tf.clone(input));
  const node: TapeNode = {
    id: internals.state.nextTapeNodeId++,
    kernelName: `recompute(${name})`,
    inputs: Object.fromEntries([input, ...reads].map((tensor, index) => [String(index), tensor])),
    outputs,
    saved: [kept],
    gradient: (dys) => {
      const gradients = tf.tidy(() => {
        for (const read of allReads) {
          if (read.isDisposed) {
            throw new ConfigError('recompute', name, `read a tensor [${read.shape}] from outside the block that was freed before the backward pass; recomputation needs every such tensor alive`);
          }
        }
        const again = record(() => segment(kept));
        try {
          const madeAgain = madeBy(again.tape);
          const rerun = collectTensors(again.result).filter((tensor) => madeAgain.has(tensor.id));
          if (rerun.length !== outputs.length) {
            throw new ConfigError('recompute', name, `returned ${rerun.length} computed tensors when run again, ${outputs.length} the first time: the segment must compute the same function`);
          }
          const seeds = new Map<tf.Tensor, tf.Tensor>();
          rerun.forEach((tensor, index) => {
            const dy = dys[index];
            if (dy !== null && dy !== undefined) seeds.set(tensor, tf.clone(dy));
          });
          return backprop(again.tape, [kept, ...reads], seeds).map((gradient, index) => gradient ?? tf.zerosLike([kept, ...reads][index]!)) as tf.Tensor[];
        } finally {
          releaseTape(again.tape);
        }
      });
      return Object.fromEntries(gradients.map((gradient, index) => [String(index), () => gradient]));
    },
  };
  internals.state.activeTape!.push(node);
  return result;
}

/** Ids of the tensors the nodes of `tape` produced. */
function madeBy(tape: readonly TapeNode[]): Set<number> {
  return new Set(tape.flatMap((node) => node.outputs.map((output) => output.id)));
}

function collectTensors(container: tf.TensorContainer): tf.Tensor[] {
  if (container instanceof tf.Tensor) return [container];
  if (container === null || typeof container !== 'object') return [];
  const values = Array.isArray(container) ? container : Object.values(container as Record<string, tf.TensorContainer>);
  return values.flatMap((value) => collectTensors(value as tf.TensorContainer));
}

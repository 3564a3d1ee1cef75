import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, FormatError, ShapeError } from '@visual-peft/vit-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectConfigError, thrown } from './__fixtures__/expect-error';
import { AdamW } from './adamw';
import { createOptimizer, resolveOptimizerConfig } from './create-optimizer';
import type { OptimizerConfigInput } from './create-optimizer';
import type { Optimizer, ParameterGroup, TrainableParameter } from './optimizer';
import { Sgd } from './sgd';

const START = [0.5, -1.5, 2];
/** Curvatures of the test loss 0.5 * sum(a * p^2), whose gradient is a * p. */
const CURVATURE = [1, 0.3, -2];

let tensorsBefore: number;
let parameter: TrainableParameter;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
  parameter = { key: 'w', variable: tf.tidy(() => tf.variable(tf.tensor1d(START), true)) };
});
afterEach(() => {
  parameter.variable.dispose();
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

function reset(): void {
  tf.tidy(() => parameter.variable.assign(tf.tensor1d(START)));
}

function group(overrides: Partial<ParameterGroup> = {}): ParameterGroup {
  return { name: 'decay', learningRate: 0.1, weightDecay: 0, parameters: [parameter], ...overrides };
}

function gradientOf(variable: tf.Variable): tf.Tensor {
  return tf.tidy(() => tf.mul(variable, tf.tensor1d(CURVATURE)));
}

/** Runs `steps` updates on the test loss and returns the parameter's values. */
function run(optimizer: Optimizer, steps: number, learningRate = 0.1): number[] {
  for (let step = 0; step < steps; step++) {
    const gradient = gradientOf(parameter.variable);
    optimizer.step(new Map([['w', gradient]]), optimizer.groups.map(() => learningRate));
    gradient.dispose();
  }
  return Array.from(parameter.variable.dataSync());
}

/** torch.optim.SGD's documented algorithm on float64 numbers: the reference for our tensor version. */
function referenceSgd(steps: number, options: { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number }): number[] {
  const p = [...START];
  const buffer: (number | null)[] = p.map(() => null);
  for (let step = 0; step < steps; step++) {
    for (let i = 0; i < p.length; i++) {
      let d = CURVATURE[i]! * p[i]! + options.weightDecay * p[i]!;
      if (options.momentum !== 0) {
        buffer[i] = buffer[i] === null ? d : options.momentum * buffer[i]! + (1 - options.dampening) * d;
        d = options.nesterov ? d + options.momentum * buffer[i]! : buffer[i]!;
      }
      p[i] = p[i]! - options.lr * d;
    }
  }
  return p;
}

/** torch.optim.AdamW (decoupled) / Adam (L2) on float64 numbers. */
function referenceAdam(steps: number, options: { lr: number; weightDecay: number; decoupled: boolean; betas?: [number, number]; eps?: number }): number[] {
  const [beta1, beta2] = options.betas ?? [0.9, 0.999];
  const eps = options.eps ?? 1e-8;
  const p = [...START];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  for (let t = 1; t <= steps; t++) {
    for (let i = 0; i < p.length; i++) {
      let g = CURVATURE[i]! * p[i]!;
      if (options.decoupled) p[i] = p[i]! * (1 - options.lr * options.weightDecay);
      else g += options.weightDecay * p[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
      const mHat = m[i]! / (1 - beta1 ** t);
      const vHat = v[i]! / (1 - beta2 ** t);
      p[i] = p[i]! - (options.lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  }
  return p;
}

function expectClose(actual: number[], expected: number[], tolerance: number): void {
  actual.forEach((value, index) => expect(Math.abs(value - expected[index]!), `entry ${index}: ${value} vs ${expected[index]}`).toBeLessThanOrEqual(tolerance * (1 + Math.abs(expected[index]!))));
}

describe('SGD', () => {
  it('without momentum: p - lr * (g + wd * p), by hand', () => {
    const optimizer = new Sgd([group({ weightDecay: 0.01 })], { momentum: 0 });
    const after = run(optimizer, 1);
    // p = 0.5: g = 0.5, plus 0.01 * 0.5 decay: 0.5 - 0.1 * 0.505
    expect(after[0]).toBeCloseTo(0.5 - 0.1 * 0.505, 6);
    expect(optimizer.state().tensors.size).toBe(0);
    optimizer.dispose();
  });

  it('with momentum matches tf.train.momentum (the same rule when dampening is 0 and there is no decay)', () => {
    for (const nesterov of [false, true]) {
      const ours = new Sgd([group()], { momentum: 0.9, nesterov });
      const oursAfter = run(ours, 6);
      ours.dispose();
      reset();
      const theirs = tf.train.momentum(0.1, 0.9, nesterov);
      for (let step = 0; step < 6; step++) {
        const gradient = gradientOf(parameter.variable);
        theirs.applyGradients([{ name: parameter.variable.name, tensor: gradient }]);
        gradient.dispose();
      }
      theirs.dispose();
      // tfjs 4.22's MomentumOptimizer.dispose skips the learning-rate scalar its SGD base keeps.
      (theirs as unknown as { c: tf.Scalar }).c.dispose();
      expectClose(oursAfter, Array.from(parameter.variable.dataSync()), 1e-6);
      reset();
    }
  });

  it('follows PyTorch with dampening and coupled weight decay', () => {
    const options = { lr: 0.05, momentum: 0.8, dampening: 0.3, nesterov: false, weightDecay: 0.1 };
    const optimizer = new Sgd([group({ learningRate: 0.05, weightDecay: 0.1 })], options);
    expectClose(run(optimizer, 7, 0.05), referenceSgd(7, options), 1e-6);
    optimizer.dispose();
  });

  it.each([
    [{ momentum: -0.1 }, 'momentum'],
    [{ dampening: Number.POSITIVE_INFINITY }, 'dampening'],
    [{ momentum: 0, nesterov: true }, 'nesterov'],
    [{ momentum: 0.9, dampening: 0.1, nesterov: true }, 'nesterov'],
  ])('refuses %o naming %s', (options, field) => {
    expectConfigError(() => new Sgd([group()], options), field);
  });
});

describe('AdamW and Adam', () => {
  it('first AdamW step by hand: p (1 - lr wd) - lr g / (|g| + eps)', () => {
    const optimizer = new AdamW([group({ learningRate: 0.01, weightDecay: 0.5 })]);
    const after = run(optimizer, 1, 0.01);
    START.forEach((p, index) => {
      const g = CURVATURE[index]! * p;
      expect(after[index]).toBeCloseTo(p * (1 - 0.01 * 0.5) - (0.01 * g) / (Math.abs(g) + 1e-8), 6);
    });
    optimizer.dispose();
  });

  it('without weight decay matches tf.train.adam', () => {
    const ours = new AdamW([group({ learningRate: 0.01 })]);
    const oursAfter = run(ours, 8, 0.01);
    ours.dispose();
    reset();
    const theirs = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    for (let step = 0; step < 8; step++) {
      const gradient = gradientOf(parameter.variable);
      theirs.applyGradients([{ name: parameter.variable.name, tensor: gradient }]);
      gradient.dispose();
    }
    theirs.dispose();
    expectClose(oursAfter, Array.from(parameter.variable.dataSync()), 1e-5);
  });

  it('decays decoupled (AdamW) or through the gradient (Adam), as PyTorch', () => {
    for (const decoupled of [true, false]) {
      reset();
      const optimizer = new AdamW([group({ learningRate: 0.02, weightDecay: 0.3 })], { decoupledWeightDecay: decoupled, betas: [0.8, 0.99], eps: 1e-6 });
      expect(optimizer.kind).toBe(decoupled ? 'adamw' : 'adam');
      expectClose(run(optimizer, 10, 0.02), referenceAdam(10, { lr: 0.02, weightDecay: 0.3, decoupled, betas: [0.8, 0.99], eps: 1e-6 }), 1e-5);
      optimizer.dispose();
    }
  });

  it.each([
    [{ betas: [0.9] }, 'betas'],
    [{ betas: [1, 0.999] }, 'betas[0]'],
    [{ betas: [0.9, -0.1] }, 'betas[1]'],
    [{ eps: 0 }, 'eps'],
    [{ decoupledWeightDecay: 'yes' }, 'decoupledWeightDecay'],
  ])('refuses %o naming %s', (options, field) => {
    expectConfigError(() => new AdamW([group()], options as never), field);
  });
});

describe('the optimiser base', () => {
  it('skips parameters without a gradient, leaving them and their state alone', () => {
    const other: TrainableParameter = { key: 'v', variable: tf.tidy(() => tf.variable(tf.tensor1d([1, 2]), true)) };
    const optimizer = new AdamW([group({ parameters: [parameter, other] })]);
    run(optimizer, 2);
    expect(Array.from(other.variable.dataSync())).toEqual([1, 2]);
    expect(optimizer.state().steps).toEqual({ w: 2 });
    optimizer.dispose();
    other.variable.dispose();
  });

  it('uses each group’s own learning rate and weight decay', () => {
    const other: TrainableParameter = { key: 'v', variable: tf.tidy(() => tf.variable(tf.tensor1d([1]), true)) };
    const optimizer = new Sgd(
      [group({ parameters: [parameter] }), { name: 'head', learningRate: 1, weightDecay: 0.5, parameters: [other] }],
      { momentum: 0 },
    );
    const gradient = tf.tensor1d([0.25]);
    const zero = tf.zerosLike(parameter.variable);
    optimizer.step(new Map<string, tf.Tensor>([['v', gradient], ['w', zero]]), [0.1, 0.2]);
    // head: 1 - 0.2 * (0.25 + 0.5 * 1); the other group has a zero gradient and no decay
    expect(other.variable.dataSync()[0]).toBeCloseTo(1 - 0.2 * 0.75, 6);
    expect(Array.from(parameter.variable.dataSync())).toEqual(START);
    tf.dispose([gradient, zero, other.variable]);
    optimizer.dispose();
  });

  it('saves and loads its state so that a restored optimiser continues bit for bit', () => {
    const config = resolveOptimizerConfig({ kind: 'adamw', learningRate: 0.01, weightDecay: 0.1 });
    const first = createOptimizer(config, [group({ learningRate: 0.01, weightDecay: 0.1 })]);
    run(first, 3, 0.01);
    const state = first.state();
    const saved = parameter.variable.clone();
    const straight = run(first, 2, 0.01);
    first.dispose();
    parameter.variable.assign(saved);
    saved.dispose();
    const second = createOptimizer(config, [group({ learningRate: 0.01, weightDecay: 0.1 })]);
    second.loadState(state);
    expect(run(second, 2, 0.01)).toEqual(straight);
    second.dispose();
  });

  it('refuses state that does not fit, naming the source', () => {
    const optimizer = new AdamW([group()]);
    run(optimizer, 1);
    const state = optimizer.state();
    const sgd = new Sgd([group()]);
    const wrongShape = new Map(state.tensors).set('exp_avg/w', { dtype: 'float32', shape: [2], data: new Float32Array(2) });
    const missingSlot = new Map([...state.tensors].filter(([name]) => name !== 'exp_avg_sq/w'));
    const cases = [
      () => sgd.loadState(state, 'ckpt'),
      () => optimizer.loadState({ ...state, steps: { w: 1, x: 1 } }, 'ckpt'),
      () => optimizer.loadState({ ...state, steps: { w: 0 } }, 'ckpt'),
      () => optimizer.loadState({ ...state, tensors: wrongShape }, 'ckpt'),
      () => optimizer.loadState({ ...state, tensors: missingSlot }, 'ckpt'),
      () => optimizer.loadState({ ...state, tensors: new Map(state.tensors).set('velocity/w', state.tensors.get('exp_avg/w')!) }, 'ckpt'),
      () => optimizer.loadState({ ...state, steps: {} }, 'ckpt'),
    ];
    for (const attempt of cases) {
      const error = thrown(attempt);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message.startsWith('ckpt: ')).toBe(true);
    }
    optimizer.dispose();
    sgd.dispose();
  });

  it('refuses malformed groups and steps', () => {
    expectConfigError(() => new Sgd([group(), group()]), 'groups');
    expectConfigError(() => new Sgd([group(), group({ name: 'head' })]), 'groups');
    expectConfigError(() => new Sgd([group({ learningRate: -1 })]), 'groups.decay.learningRate');
    expectConfigError(() => new Sgd([group({ weightDecay: Number.NaN })]), 'groups.decay.weightDecay');
    const optimizer = new Sgd([group()]);
    const gradient = tf.zeros([3]);
    const wrong = tf.zeros([2]);
    expect(thrown(() => optimizer.step(new Map([['w', gradient]]), []))).toBeInstanceOf(ShapeError);
    expect(thrown(() => optimizer.step(new Map([['x', gradient]]), [0.1]))).toBeInstanceOf(ShapeError);
    expect(thrown(() => optimizer.step(new Map([['w', wrong]]), [0.1]))).toBeInstanceOf(ShapeError);
    expectConfigError(() => optimizer.step(new Map([['w', gradient]]), [-0.1]), 'learningRates[0]');
    tf.dispose([gradient, wrong]);
    optimizer.dispose();
  });

  it('holds one slot variable per parameter and slot, and frees them on dispose', () => {
    const optimizer = new AdamW([group()]);
    const before = tf.memory().numTensors;
    run(optimizer, 3);
    expect(tf.memory().numTensors).toBe(before + 2);
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('optimizer config', () => {
  it('fills PyTorch’s defaults, with the papers’ SGD momentum', () => {
    expect(resolveOptimizerConfig({ kind: 'sgd', learningRate: 0.1 })).toEqual({
      kind: 'sgd', learningRate: 0.1, weightDecay: 0, momentum: 0.9, dampening: 0, nesterov: false,
    });
    expect(resolveOptimizerConfig({ kind: 'adamw', learningRate: 1e-3 })).toEqual({
      kind: 'adamw', learningRate: 1e-3, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8,
    });
    expect(resolveOptimizerConfig({ kind: 'adam', learningRate: 1e-3 }).weightDecay).toBe(0);
  });

  it.each([
    [{ kind: 'rmsprop', learningRate: 0.1 }, 'optimizer.kind'],
    [{ kind: 'sgd' }, 'optimizer.learningRate'],
    [{ kind: 'sgd', learningRate: 0 }, 'optimizer.learningRate'],
    [{ kind: 'sgd', learningRate: 0.1, weightDecay: -1 }, 'optimizer.weightDecay'],
    [{ kind: 'sgd', learningRate: 0.1, betas: [0.9, 0.99] }, 'optimizer.betas'],
    [{ kind: 'adamw', learningRate: 0.1, momentum: 0.9 }, 'optimizer.momentum'],
    [{ kind: 'sgd', learningRate: 0.1, momentum: 0, nesterov: true }, 'optimizer.nesterov'],
    [{ kind: 'adam', learningRate: 0.1, eps: -1 }, 'optimizer.eps'],
    [{ kind: 'adamw', learningRate: 0.1, betas: [0.9, 2] }, 'optimizer.betas[1]'],
    [null, 'optimizer'],
  ])('refuses %o naming %s', (input, field) => {
    expectConfigError(() => resolveOptimizerConfig(input as unknown as OptimizerConfigInput), field);
  });

  it('builds the optimiser of each kind', () => {
    const kinds = (['sgd', 'adamw', 'adam'] as const).map((kind) => {
      const optimizer = createOptimizer(resolveOptimizerConfig({ kind, learningRate: 0.1 }), [group()]);
      optimizer.dispose();
      return optimizer.kind;
    });
    expect(kinds).toEqual(['sgd', 'adamw', 'adam']);
    expect(thrown(() => resolveOptimizerConfig({ kind: 'sgd', learningRate: 0.1, momentum: 'high' } as never))).toBeInstanceOf(ConfigError);
  });
});

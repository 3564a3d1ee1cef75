import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from '@visual-peft/vit-core';
import { ConfigError, FormatError, ShapeError, fromHostTensor, numberInRange, toHostTensor } from '@visual-peft/vit-core';
import { requireFloat32Shape } from './host-tensors';

/** A variable an optimiser updates, under a name that stays the same from run to run. */
export interface TrainableParameter {
  /** timm's key for backbone weights (`head.weight`), `<method name>:<index>` for a method's variables. */
  readonly key: string;
  readonly variable: tf.Variable;
}

/** Parameters that share a learning rate and a weight decay (PyTorch's param_groups). */
export interface ParameterGroup {
  readonly name: string;
  /** Peak learning rate; the schedule moves it step by step. */
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly parameters: readonly TrainableParameter[];
}

/** Everything an optimiser carries from step to step, as host arrays: what a checkpoint stores. */
export interface OptimizerState {
  readonly kind: string;
  /** Updates applied to each parameter, by key (PyTorch counts per parameter). */
  readonly steps: Readonly<Record<string, number>>;
  /** Slot tensors (momentum buffers, moment estimates) under `<slot>/<parameter key>`. */
  readonly tensors: ReadonlyMap<string, HostTensor>;
}

/** The hyperparameters of one update of one parameter. */
export interface UpdateContext {
  readonly learningRate: number;
  readonly weightDecay: number;
  /** 1 on the parameter's first update. */
  readonly step: number;
}

/** A parameter's new value and its new slots. */
export interface UpdateResult {
  readonly value: tf.Tensor;
  readonly slots: Readonly<Record<string, tf.Tensor>>;
}

/**
 * The part every optimiser shares: parameter groups, per-parameter step counts, slot variables
 * created on a parameter's first update (as PyTorch creates its state lazily), saving and loading
 * that state, and disposal. A subclass writes one update rule as plain tensor arithmetic.
 */
export abstract class Optimizer {
  abstract readonly kind: string;
  /** The slots the update rule keeps per parameter, in the order it returns them. */
  protected abstract readonly slotNames: readonly string[];
  private readonly slots = new Map<string, Map<string, tf.Variable>>();
  private readonly steps = new Map<string, number>();
  private readonly byKey = new Map<string, TrainableParameter>();

  constructor(readonly groups: readonly ParameterGroup[]) {
    const names = new Set<string>();
    for (const group of groups) {
      if (names.has(group.name)) throw new ConfigError('groups', group.name, 'must have distinct names');
      names.add(group.name);
      numberInRange(`groups.${group.name}.learningRate`, group.learningRate, { min: 0 });
      numberInRange(`groups.${group.name}.weightDecay`, group.weightDecay, { min: 0 });
      for (const parameter of group.parameters) {
        if (this.byKey.has(parameter.key)) throw new ConfigError('groups', parameter.key, 'must hold each parameter once');
        this.byKey.set(parameter.key, parameter);
      }
    }
  }

  /** The update rule: `parameter` and `gradient` in, new value and slots out (`slots` is null before the first update). */
  protected abstract update(
    parameter: tf.Tensor,
    gradient: tf.Tensor,
    slots: Readonly<Record<string, tf.Tensor>> | null,
    context: UpdateContext,
  ): UpdateResult;

  /**
   * One update of every parameter that has a gradient (parameters without one are skipped and keep
   * their state, as in PyTorch). `learningRates[i]` is group i's rate for this step.
   */
  step(gradients: ReadonlyMap<string, tf.Tensor>, learningRates: readonly number[]): void {
    if (learningRates.length !== this.groups.length) {
      throw new ShapeError(`step needs one learning rate per group (${this.groups.length}), got ${learningRates.length}`);
    }
    for (const key of gradients.keys()) {
      if (!this.byKey.has(key)) throw new ShapeError(`gradient for ${key}, which is in no parameter group`);
    }
    this.groups.forEach((group, index) => {
      const learningRate = numberInRange(`learningRates[${index}]`, learningRates[index], { min: 0 });
      for (const parameter of group.parameters) {
        const gradient = gradients.get(parameter.key);
        if (gradient === undefined) continue;
        if (!sameShape(gradient.shape, parameter.variable.shape)) {
          throw new ShapeError(
            `gradient of ${parameter.key} has shape [${gradient.shape.join(', ')}], the parameter [${parameter.variable.shape.join(', ')}]`,
          );
        }
        const step = (this.steps.get(parameter.key) ?? 0) + 1;
        tf.tidy(() => {
          const slots = this.slots.get(parameter.key);
          const previous = slots === undefined ? null : Object.fromEntries(slots);
          const result = this.update(parameter.variable, gradient, previous, { learningRate, weightDecay: group.weightDecay, step });
          parameter.variable.assign(result.value);
          this.storeSlots(parameter.key, result.slots);
        });
        this.steps.set(parameter.key, step);
      }
    });
  }

  /** A copy of the state on the host. */
  state(): OptimizerState {
    const tensors = new Map<string, HostTensor>();
    for (const [key, slots] of this.slots) {
      for (const [slot, variable] of slots) tensors.set(`${slot}/${key}`, toHostTensor(variable));
    }
    return { kind: this.kind, steps: Object.fromEntries(this.steps), tensors };
  }

  /** Replaces the state with a saved one, after checking that it fits these parameters. */
  loadState(state: OptimizerState, source = 'optimizer state'): void {
    if (state.kind !== this.kind) throw new FormatError(source, `holds the state of a ${state.kind} optimiser, not ${this.kind}`);
    const steps = new Map<string, number>();
    for (const [key, count] of Object.entries(state.steps)) {
      if (!this.byKey.has(key)) throw new FormatError(source, `has a step count for ${key}, which is not a parameter here`);
      if (!Number.isSafeInteger(count) || count < 1) throw new FormatError(source, `step count of ${key} must be a whole number >= 1, got ${count}`);
      steps.set(key, count);
    }
    const loaded = new Map<string, Map<string, HostTensor>>();
    for (const [name, host] of state.tensors) {
      const separator = name.indexOf('/');
      const slot = name.slice(0, separator);
      const key = name.slice(separator + 1);
      const parameter = this.byKey.get(key);
      if (separator < 0 || !this.slotNames.includes(slot) || parameter === undefined) {
        throw new FormatError(source, `has a tensor ${name} that is no slot (${this.slotNames.join(', ')}) of a parameter here`);
      }
      requireFloat32Shape(source, name, host, parameter.variable.shape);
      if (!steps.has(key)) throw new FormatError(source, `has ${name} but no step count for ${key}`);
      loaded.set(key, (loaded.get(key) ?? new Map()).set(slot, host));
    }
    for (const key of steps.keys()) {
      const count = loaded.get(key)?.size ?? 0;
      if (count !== this.slotNames.length) {
        throw new FormatError(source, `${key} has ${count} of the ${this.slotNames.length} slots (${this.slotNames.join(', ')})`);
      }
    }
    this.clear();
    for (const [key, count] of steps) this.steps.set(key, count);
    for (const [key, hosts] of loaded) {
      tf.tidy(() => this.storeSlots(key, Object.fromEntries([...hosts].map(([slot, host]) => [slot, fromHostTensor(host)]))));
    }
  }

  /** Frees the slot variables. */
  dispose(): void {
    this.clear();
  }

  private clear(): void {
    for (const slots of this.slots.values()) for (const variable of slots.values()) variable.dispose();
    this.slots.clear();
    this.steps.clear();
  }

  private storeSlots(key: string, values: Readonly<Record<string, tf.Tensor>>): void {
    let slots = this.slots.get(key);
    if (slots === undefined) {
      slots = new Map();
      this.slots.set(key, slots);
    }
    for (const [slot, value] of Object.entries(values)) {
      const existing = slots.get(slot);
      if (existing === undefined) slots.set(slot, tf.variable(value, false));
      else existing.assign(value);
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, axis) => size === b[axis]);
}

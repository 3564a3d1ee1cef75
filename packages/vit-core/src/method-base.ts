import * as tf from '@tensorflow/tfjs-core';
import { MAX_VIT_PARAMETERS } from './config';
import { ConfigError, checkTensors } from './errors';
import type { TuningMethod } from './extension';
import { randomSite } from './per-image-random';
import { tfjsSeed } from './random';
import type { VisionTransformer } from './vision-transformer';

/** How a method's variable is saved: as held, or transposed (a [in, out] weight saved as PyTorch's Linear [out, in]). */
export type SavedLayout = 'as-is' | 'transposed';

export interface VariableOptions {
  /** Default 'as-is'. */
  readonly saved?: SavedLayout;
  /**
   * True for the method's own classifier (VQT's head over its wider features): it trains and is
   * saved, but `numParameters` leaves it out, as the papers count a method's parameters. Default false.
   */
  readonly classifier?: boolean;
}

interface Entry {
  variable: tf.Variable;
  readonly options: Required<VariableOptions>;
}

/** Tensors a method saves besides its variables (SCT's channel indices), and how to restore them. */
export interface SavedState {
  /** Each saved tensor's expected shape and dtype, by name. */
  readonly expected: ReadonlyMap<string, { readonly shape: readonly number[]; readonly dtype: string }>;
  /** Shapes the variables must have when loading these weights (VQT's head narrows with its selection). */
  readonly variableShapes?: ReadonlyMap<string, readonly number[]>;
  /** Checks the saved values (indices in range, ...) once names, shapes and dtypes passed; writes nothing. */
  validate?(): void;
  /** Writes the state; called only after every name, shape, dtype and value was checked. */
  apply(): void;
}

/**
 * The bookkeeping every tuning method shares: trainable variables under stable names, drawn from
 * seeds derived from the config's seed, the method's name and the variable's name (so composed
 * methods and their variables never share a draw); the trainable list and the parameter count;
 * copies for saving; one checked load (names, shapes and dtypes, one `CheckpointMismatchError`,
 * nothing written on a mismatch); disposal. A method's own file then holds its options and its
 * hooks: `class MyMethod extends MethodBase<MyConfig> { ... }`.
 */
export abstract class MethodBase<Config extends Readonly<Record<string, unknown>> = Readonly<Record<string, unknown>>> implements TuningMethod {
  abstract readonly name: string;
  /** The validated config as plain JSON: what the method's definition rebuilds it from. */
  readonly config: Readonly<Config>;
  private readonly entries = new Map<string, Entry>();
  /** The most values the method's variables may hold together (`MAX_VIT_PARAMETERS`). */
  protected readonly maxParameters: number = MAX_VIT_PARAMETERS;

  constructor(config: Config) {
    this.config = config;
  }

  /**
   * The key of a random site of this method's forward passes (prompt dropout, Gumbel noise), for
   * `perImageDropout`/`deriveSeed` with the pass's seed: distinct per method name, so composed
   * methods never share a draw.
   */
  protected site(name: string): number {
    return randomSite(`${this.name}/${name}`);
  }

  /**
   * The seed of a named initial draw of this method: distinct per config seed, method name and
   * site, never 0 (which tfjs's random ops take as "unseeded").
   */
  protected seedFor(site: string, ...parts: readonly number[]): number {
    const seed = typeof this.config.seed === 'number' ? this.config.seed : 0;
    return tfjsSeed(seed, this.site(site), ...parts);
  }

  /**
   * Registers a trainable variable holding `initial(seed)`, computed inside a tidy; `seed` is
   * `seedFor(name)`. Call it from the constructor (or to grow the method, as VQT's head does).
   */
  protected addVariable(name: string, initial: (seed: number) => tf.Tensor, options: VariableOptions = {}): tf.Variable {
    if (this.entries.has(name)) throw new ConfigError(`${this.name} variable`, name, 'is registered twice');
    const variable = this.allocate(name, initial, true);
    this.entries.set(name, { variable, options: { saved: options.saved ?? 'as-is', classifier: options.classifier ?? false } });
    const held = this.trainableVariables().reduce((sum, each) => sum + each.size, 0);
    if (held > this.maxParameters) this.refuseSize(`must give at most ${this.maxParameters} parameters (${held} with variable ${name})`, true);
    return variable;
  }

  /**
   * A fresh variable holding `initial(seedFor(name))`. Options too large for a typed array
   * ("Invalid typed array length", "Array buffer allocation failed") are a `ConfigError` naming
   * the method's options, not a RangeError from deep inside tfjs.
   */
  private allocate(name: string, initial: (seed: number) => tf.Tensor, adding: boolean): tf.Variable {
    try {
      return tf.tidy(() => tf.variable(initial(this.seedFor(name)), true));
    } catch (error) {
      if (error instanceof RangeError) this.refuseSize(`must give variables that fit a typed array (variable ${name}: ${error.message})`, adding, error);
      throw error;
    }
  }

  /**
   * Throws the `ConfigError` for options too large to build. While adding variables (a constructor
   * that now throws, so nobody will hold the method to dispose it) the variables so far are freed.
   */
  private refuseSize(rule: string, adding: boolean, cause?: unknown): never {
    if (adding) {
      tf.dispose(this.trainableVariables());
      this.entries.clear();
    }
    const error = new ConfigError(`${this.name} options`, this.config, rule);
    if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause });
    throw error;
  }

  /** Replaces a registered variable by a fresh one (another shape allowed); the old one is disposed. */
  protected replaceVariable(name: string, initial: (seed: number) => tf.Tensor): tf.Variable {
    const entry = this.entry(name);
    const variable = this.allocate(name, initial, false);
    entry.variable.dispose();
    entry.variable = variable;
    return variable;
  }

  /** The registered variable `name`. */
  protected variable(name: string): tf.Variable {
    return this.entry(name).variable;
  }

  /** True when `name` is registered (a variable that exists only in some configurations). */
  protected hasVariable(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * Runs `run` with this method switched off on `model` (when attached; detached it is off anyway):
   * what a data-dependent `prepare` and a frozen pass read, the backbone with every other method.
   */
  protected withoutSelf<T>(model: VisionTransformer, run: () => T): T {
    return model.extensions.includes(this) ? model.disableExtensions(run, [this]) : run();
  }

  /** Tensors saved besides the variables; the caller disposes them. Default none. */
  protected savedState(): Map<string, tf.Tensor> {
    return new Map();
  }

  /** Reads the saved state out of `weights` for `loadWeights` (checked, then applied). Default: nothing saved. */
  protected restoreState(weights: ReadonlyMap<string, tf.Tensor>): SavedState {
    void weights;
    return { expected: new Map(), apply: () => {} };
  }

  /** Frees tensors the method holds besides its variables. Default none. */
  protected disposeState(): void {}

  trainableVariables(): tf.Variable[] {
    return [...this.entries.values()].map((entry) => entry.variable);
  }

  numParameters(): number {
    return [...this.entries.values()].reduce((sum, entry) => sum + (entry.options.classifier ? 0 : entry.variable.size), 0);
  }

  weights(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, { variable, options }] of this.entries) out.set(name, options.saved === 'transposed' ? tf.transpose(variable) : tf.clone(variable));
    for (const [name, tensor] of this.savedState()) out.set(name, tensor);
    return out;
  }

  /**
   * Checks every name, shape and dtype as `loadWeights` does, writing nothing. It needs only the
   * method's configuration, not a prepared method (a fresh SCT has no channels chosen yet).
   */
  checkWeights(weights: ReadonlyMap<string, tf.Tensor>): void {
    this.checkedState(weights);
  }

  /** Checks every name, shape and dtype first, then writes: a mismatch changes nothing. */
  loadWeights(weights: ReadonlyMap<string, tf.Tensor>): void {
    const state = this.checkedState(weights);
    state.apply();
    tf.tidy(() => {
      for (const [name, { variable, options }] of this.entries) {
        const value = weights.get(name)!;
        variable.assign(options.saved === 'transposed' ? tf.transpose(value) : value);
      }
    });
    this.loaded();
  }

  private checkedState(weights: ReadonlyMap<string, tf.Tensor>): SavedState {
    const state = this.restoreState(weights);
    const expected = new Map(state.expected);
    for (const [name, { variable, options }] of this.entries) {
      const shape = state.variableShapes?.get(name) ?? variable.shape;
      expected.set(name, { shape: options.saved === 'transposed' ? [...shape].reverse() : shape, dtype: 'float32' });
    }
    checkTensors(`${this.name} weights`, expected, weights);
    state.validate?.();
    return state;
  }

  /** Called after `loadWeights` wrote everything (a data-dependent method is then ready). Default nothing. */
  protected loaded(): void {}

  dispose(): void {
    tf.dispose(this.trainableVariables());
    this.entries.clear();
    this.disposeState();
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new ConfigError(`${this.name} variable`, name, 'does not exist (disposed, or not part of this configuration)');
    return entry;
  }
}

import { ConfigError } from './errors';

/**
 * The checks every package's configs run once, at construction. Each takes the field's name (with
 * its path where it sits inside a bigger config, e.g. `optimizer.learningRate`) and the raw value,
 * returns the value typed, or throws `ConfigError` naming the field, the value and the rule. Every
 * rule has one wording, so the same mistake reads the same in every package.
 */

/**
 * An options object with no keys outside `known`; `undefined` reads as empty. `field` is the
 * object's path (`optimizer`, `decodeHead`), or at the top level what it configures (`adaptformer`),
 * so an unknown key is reported with its path (`optimizer.lr`) and the options there are.
 */
export function knownOptions<T extends object>(field: string, value: T | undefined, known: readonly string[]): Partial<T>;
export function knownOptions(field: string, value: unknown, known: readonly string[]): Readonly<Record<string, unknown>>;
export function knownOptions(field: string, value: unknown, known: readonly string[]): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(field, value, 'must be an object');
  for (const [key, option] of Object.entries(value)) {
    if (!known.includes(key)) throw new ConfigError(`${field}.${key}`, option, `is not an option (options: ${known.join(', ')})`);
  }
  return value as Readonly<Record<string, unknown>>;
}

/** Bounds of `numberInRange`, inclusive unless marked exclusive; absent bounds are unbounded. */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  readonly exclusiveMin?: boolean;
  readonly exclusiveMax?: boolean;
}

/** A finite number within `range`. */
export function numberInRange(field: string, value: unknown, range: NumberRange = {}): number {
  const { min = -Infinity, max = Infinity, exclusiveMin = false, exclusiveMax = false } = range;
  const below = (number: number) => (exclusiveMin ? number <= min : number < min);
  const above = (number: number) => (exclusiveMax ? number >= max : number > max);
  if (typeof value !== 'number' || !Number.isFinite(value) || below(value) || above(value)) {
    throw new ConfigError(field, value, `must be a finite number${describeRange(min, max, exclusiveMin, exclusiveMax)}`);
  }
  return value;
}

function describeRange(min: number, max: number, exclusiveMin: boolean, exclusiveMax: boolean): string {
  if (min === -Infinity && max === Infinity) return '';
  if (max === Infinity) return ` ${exclusiveMin ? '>' : '>='} ${min}`;
  if (min === -Infinity) return ` ${exclusiveMax ? '<' : '<='} ${max}`;
  return ` in ${exclusiveMin ? '(' : '['}${min}, ${max}${exclusiveMax ? ')' : ']'}`;
}

/** A finite number > 0 (learning rates, epsilons, scales). */
export function positiveNumber(field: string, value: unknown): number {
  return numberInRange(field, value, { min: 0, exclusiveMin: true });
}

/** A dropout-style rate in [0, 1): a rate of 1 would drop everything. */
export function rate(field: string, value: unknown): number {
  return numberInRange(field, value, { min: 0, max: 1, exclusiveMax: true });
}

/** A safe integer, at least `minimum` when one is given (1 for counts, 0 for seeds and indices). */
export function integer(field: string, value: unknown, minimum = -Infinity): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    throw new ConfigError(field, value, minimum === -Infinity ? 'must be an integer' : `must be an integer >= ${minimum}`);
  }
  return value;
}

/** `[rows, columns]` from one integer >= 1 (both) or a pair of them. */
export function integerPair(field: string, value: unknown): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((side) => typeof side === 'number' && Number.isSafeInteger(side) && side >= 1)) {
    throw new ConfigError(field, value, 'must be an integer >= 1 or a pair of them');
  }
  return [pair[0] as number, pair[1] as number];
}

export function flag(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(field, value, 'must be true or false');
  return value;
}

/** One of `choices` (strings or numbers), compared exactly. */
export function oneOf<T extends string | number>(field: string, value: unknown, choices: readonly T[]): T {
  if (!(choices as readonly unknown[]).includes(value)) throw new ConfigError(field, value, `must be one of ${choices.join(', ')}`);
  return value as T;
}

export function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(field, value, 'must be a non-empty string');
  return value;
}

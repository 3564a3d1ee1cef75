import { integer } from './validate';

/** Everything needed to continue a `SeededRandom` sequence: what a checkpoint stores. */
export interface RandomState {
  readonly seed: number;
  /** How many values were drawn so far. */
  readonly counter: number;
}

const GOLDEN_RATIO_32 = 0x9e3779b9;
const TWO_32 = 0x1_0000_0000;

/** MurmurHash3's 32-bit finaliser: every input bit flips about half of the output bits. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The project's one seeded generator, for everything drawn on the host (data order, augmentation,
 * channel or token sampling, per-step seeds). Counter-based, like Philox: value n is a hash of the
 * seed and n, so the whole state is two integers, a checkpoint restores it exactly, and a resumed
 * run draws what an uninterrupted one would; results do not depend on platform or backend.
 */
export class SeededRandom {
  private counter: number;
  private readonly seedHash: number;

  constructor(
    readonly seed: number,
    counter = 0,
  ) {
    integer('seed', seed, 0);
    integer('counter', counter, 0);
    this.counter = counter;
    // Both 32-bit halves of the seed count, so seeds above 2^32 stay distinct.
    this.seedHash = mix32((seed % TWO_32) ^ mix32(Math.floor(seed / TWO_32) + GOLDEN_RATIO_32));
  }

  static fromState(state: RandomState): SeededRandom {
    return new SeededRandom(state.seed, state.counter);
  }

  get state(): RandomState {
    return { seed: this.seed, counter: this.counter };
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextUint32(): number {
    const low = this.counter % TWO_32;
    const high = Math.floor(this.counter / TWO_32);
    this.counter += 1;
    return mix32(this.seedHash ^ mix32(low + GOLDEN_RATIO_32) ^ mix32(high ^ this.seedHash));
  }

  /** A seed for tfjs' random ops, which take an exact integer: uniform in [0, 2^31). */
  nextSeed(): number {
    return this.nextUint32() >>> 1;
  }

  /** Uniform in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * (this.nextUint32() / TWO_32);
  }

  /** Uniform integer in [low, high], both ends included. */
  integer(low: number, high: number): number {
    return low + Math.floor(this.uniform() * (high - low + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.uniform() < p;
  }

  /** Normal with the given mean and standard deviation (Box-Muller). */
  gauss(mean: number, std: number): number {
    const u = 1 - this.uniform(); // in (0, 1]: log(0) never happens
    const v = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.integer(0, i);
      const swap = items[i]!;
      items[i] = items[j]!;
      items[j] = swap;
    }
    return items;
  }

  /** A random order of 0..count-1. */
  permutation(count: number): Int32Array {
    return Int32Array.from(this.shuffle(Array.from({ length: count }, (_, index) => index)));
  }
}

/** One 32-bit seed from several integers (seed, epoch, position, ...), well mixed. */
export function deriveSeed(...parts: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    hash = mix32((hash ^ mix32(part >>> 0)) + GOLDEN_RATIO_32);
    hash = mix32((hash ^ Math.floor(part / TWO_32)) + 0x7f4a7c15);
  }
  return hash >>> 0;
}

/**
 * The seed to hand tfjs's random ops for an integer seed (and optional parts). tfjs's normal and
 * truncated-normal generators take any falsy seed, 0 included, as "unseeded" and draw from
 * Math.random, so a seed of 0 would silently be irreproducible; this maps every seed to a distinct
 * non-zero one.
 */
export function tfjsSeed(...parts: readonly number[]): number {
  return deriveSeed(...parts) || 1;
}

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { MAX_VIT_PARAMETERS } from './config';
import { ConfigError } from './errors';
import { MethodBase } from './method-base';

/** A method with one [rows, columns] variable per entry of `sizes`: its options decide the sizes, as a rank does. */
class Sized extends MethodBase<{ rows: number; columns: number; count: number }> {
  readonly name = 'sized';
  constructor(config: { rows: number; columns: number; count: number }, limit?: number) {
    super(config);
    if (limit !== undefined) Object.defineProperty(this, 'maxParameters', { value: limit });
    for (let index = 0; index < config.count; index += 1) this.addVariable(`w${index}`, () => tf.zeros([config.rows, config.columns]));
  }
}

describe('MethodBase refuses options too large to build, with the options named', () => {
  it('a variable beyond a typed array ("Invalid typed array length") is a ConfigError, not a RangeError', () => {
    const before = tf.memory().numTensors;
    let error: unknown = null;
    try {
      new Sized({ rows: 768, columns: 100_000_000, count: 2 });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^sized options must give variables that fit a typed array \(variable w0: .*\), got \{"rows":768,"columns":100000000,"count":2\}$/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('variables beyond maxParameters together are refused and the ones built so far freed', () => {
    const before = tf.memory().numTensors;
    expect(() => new Sized({ rows: 4, columns: 5, count: 3 }, 50)).toThrow(/^sized options must give at most 50 parameters \(60 with variable w2\), got /);
    expect(tf.memory().numTensors).toBe(before);
    const fits = new Sized({ rows: 4, columns: 5, count: 2 }, 50);
    expect(fits.numParameters()).toBe(40);
    fits.dispose();
  });

  it('the default limit is the backbone limit, 2^30', () => {
    const method = new Sized({ rows: 1, columns: 1, count: 1 });
    expect((method as unknown as { maxParameters: number }).maxParameters).toBe(MAX_VIT_PARAMETERS);
    expect(MAX_VIT_PARAMETERS).toBe(2 ** 30);
    method.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors';
import { flag, integer, integerPair, knownOptions, nonEmptyString, numberInRange, oneOf, positiveNumber, rate } from './validate';

/** The ConfigError `fn` throws; fails the test when it returns or throws anything else. */
function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but the call returned');
}

function expectRefused(fn: () => unknown, message: string): void {
  expect(refusal(fn).message).toBe(message);
}

describe('knownOptions', () => {
  it('returns the object, and an empty one for undefined', () => {
    const input = { a: 1 };
    expect(knownOptions('method', input, ['a', 'b'])).toBe(input);
    expect(knownOptions('method', undefined, ['a'])).toEqual({});
  });

  it('names an unknown key with its path, its value and the options there are', () => {
    const error = refusal(() => knownOptions('adaptformer', { bottleneck: 8, ffnNum: 64 }, ['bottleneck', 'scale']));
    expect(error.field).toBe('adaptformer.ffnNum');
    expect(error.value).toBe(64);
    expect(error.message).toBe('adaptformer.ffnNum is not an option (options: bottleneck, scale), got 64');
  });

  it('refuses what is not a plain object', () => {
    expectRefused(() => knownOptions('optimizer', null, []), 'optimizer must be an object, got null');
    expectRefused(() => knownOptions('optimizer', 'sgd', []), 'optimizer must be an object, got "sgd"');
    expectRefused(() => knownOptions('optimizer', [1], []), 'optimizer must be an object, got [1]');
  });
});

describe('numberInRange', () => {
  it('takes any finite number without bounds and refuses the rest', () => {
    expect(numberInRange('x', -1e300)).toBe(-1e300);
    for (const bad of [Infinity, -Infinity, NaN, '1', null, undefined]) expect(refusal(() => numberInRange('x', bad)).rule).toBe('must be a finite number');
  });

  it('keeps inclusive bounds and refuses just outside them', () => {
    const range = { min: 0, max: 1 };
    expect(numberInRange('x', 0, range)).toBe(0);
    expect(numberInRange('x', 1, range)).toBe(1);
    expectRefused(() => numberInRange('x', -0.001, range), 'x must be a finite number in [0, 1], got -0.001');
    expectRefused(() => numberInRange('x', 1.001, range), 'x must be a finite number in [0, 1], got 1.001');
  });

  it('refuses exclusive bounds themselves', () => {
    const range = { min: 0, max: 1, exclusiveMin: true, exclusiveMax: true };
    expect(numberInRange('x', 0.5, range)).toBe(0.5);
    expectRefused(() => numberInRange('x', 0, range), 'x must be a finite number in (0, 1), got 0');
    expectRefused(() => numberInRange('x', 1, range), 'x must be a finite number in (0, 1), got 1');
  });

  it('words one-sided ranges with the comparison', () => {
    expectRefused(() => numberInRange('x', -1, { min: 0 }), 'x must be a finite number >= 0, got -1');
    expectRefused(() => numberInRange('x', 0, { min: 0, exclusiveMin: true }), 'x must be a finite number > 0, got 0');
    expectRefused(() => numberInRange('x', 3, { max: 2 }), 'x must be a finite number <= 2, got 3');
    expectRefused(() => numberInRange('x', 2, { max: 2, exclusiveMax: true }), 'x must be a finite number < 2, got 2');
    expect(numberInRange('x', 2, { max: 2 })).toBe(2);
  });
});

describe('positiveNumber and rate', () => {
  it('positiveNumber takes anything finite above 0', () => {
    expect(positiveNumber('lr', 1e-12)).toBe(1e-12);
    expectRefused(() => positiveNumber('lr', 0), 'lr must be a finite number > 0, got 0');
    expectRefused(() => positiveNumber('lr', Infinity), 'lr must be a finite number > 0, got Infinity');
  });

  it('rate takes [0, 1)', () => {
    expect(rate('dropout', 0)).toBe(0);
    expect(rate('dropout', 0.999)).toBe(0.999);
    expectRefused(() => rate('dropout', 1), 'dropout must be a finite number in [0, 1), got 1');
    expectRefused(() => rate('dropout', -0.1), 'dropout must be a finite number in [0, 1), got -0.1');
  });
});

describe('integer', () => {
  it('takes any safe integer without a minimum', () => {
    expect(integer('seed', -7)).toBe(-7);
    expectRefused(() => integer('seed', 0.5), 'seed must be an integer, got 0.5');
    expectRefused(() => integer('seed', 2 ** 53), `seed must be an integer, got ${2 ** 53}`);
    expectRefused(() => integer('seed', '3'), 'seed must be an integer, got "3"');
  });

  it('takes the minimum itself and refuses one below', () => {
    expect(integer('numPrompts', 1, 1)).toBe(1);
    expectRefused(() => integer('numPrompts', 0, 1), 'numPrompts must be an integer >= 1, got 0');
    expect(integer('seed', 0, 0)).toBe(0);
    expectRefused(() => integer('seed', -1, 0), 'seed must be an integer >= 0, got -1');
    expectRefused(() => integer('steps', NaN, 0), 'steps must be an integer >= 0, got NaN');
  });
});

describe('integerPair', () => {
  it('reads one integer as both sides, or a pair', () => {
    expect(integerPair('stride', 3)).toEqual([3, 3]);
    expect(integerPair('stride', [1, 4])).toEqual([1, 4]);
  });

  it('refuses sides below 1, fractions and other lengths', () => {
    for (const bad of [0, 1.5, [1, 0], [2, 2.5], [1, 2, 3], [4], '4', null]) {
      const error = refusal(() => integerPair('stride', bad));
      expect(error.field).toBe('stride');
      expect(error.rule).toBe('must be an integer >= 1 or a pair of them');
    }
    expectRefused(() => integerPair('stride', [1, 0]), 'stride must be an integer >= 1 or a pair of them, got [1, 0]');
  });
});

describe('flag, oneOf and nonEmptyString', () => {
  it('flag takes only booleans', () => {
    expect(flag('deep', false)).toBe(false);
    expectRefused(() => flag('deep', 'true'), 'deep must be true or false, got "true"');
    expectRefused(() => flag('deep', 1), 'deep must be true or false, got 1');
  });

  it('oneOf compares exactly, for strings and numbers', () => {
    expect(oneOf('kind', 'sgd', ['sgd', 'adamw'] as const)).toBe('sgd');
    expect(oneOf('kernelSize', 3, [1, 3] as const)).toBe(3);
    expectRefused(() => oneOf('kind', 'SGD', ['sgd', 'adamw']), 'kind must be one of sgd, adamw, got "SGD"');
    expectRefused(() => oneOf('kernelSize', '3', [1, 3]), 'kernelSize must be one of 1, 3, got "3"');
  });

  it('nonEmptyString refuses the empty string and non-strings', () => {
    expect(nonEmptyString('key', 'head')).toBe('head');
    expectRefused(() => nonEmptyString('key', ''), 'key must be a non-empty string, got ""');
    expectRefused(() => nonEmptyString('key', 5), 'key must be a non-empty string, got 5');
  });
});

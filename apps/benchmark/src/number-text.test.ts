import { describe, expect, it } from 'vitest';
import { integerFlag, numberFlag } from './args';
import { UsageError } from './errors';
import { numberTextProblem, parseStrictJson, parseStrictYaml } from './number-text';
import { parseSetOptions } from './set-options';
import { parseVariant } from './suite/variants';

describe('numberTextProblem: one grammar for every number the app reads', () => {
  it.each([
    ['8', true, null],
    ['-3', true, null],
    ['+12', true, null],
    ['9007199254740991', true, null],
    ['9007199254740992', true, 'at most 2^53 - 1 (9007199254740991) in size'],
    ['0x8', true, 'in decimal digits'],
    ['1e3', true, 'in decimal digits, not an exponent form'],
    ['8.0', true, 'in decimal digits, without a fraction'],
    [' 8', true, 'in decimal digits'],
    ['Infinity', true, 'in decimal digits'],
    ['0.5', false, null],
    ['1e-3', false, null],
    ['2.5E+2', false, 'written in digits when it is whole (250), not as an exponent form'],
    ['1e3', false, 'written in digits when it is whole (1000), not as an exponent form'],
    ['1e999', false, 'a finite number'],
    ['0x8', false, 'a decimal number (digits, an optional fraction and exponent)'],
    ['NaN', false, 'a decimal number (digits, an optional fraction and exponent)'],
    ['', false, 'a decimal number (digits, an optional fraction and exponent)'],
  ] as const)('%j (integer: %s) -> %j', (text, integer, problem) => {
    expect(numberTextProblem(text, integer)).toBe(problem);
  });
});

describe('flags', () => {
  it('integer flags take decimal digits only', () => {
    expect(integerFlag('classes', '1000', 0)).toBe(1000);
    expect(() => integerFlag('classes', '1e12', 0)).toThrow(new UsageError('--classes must be an integer >= 0 (in decimal digits, not an exponent form), got "1e12"'));
    expect(() => integerFlag('classes', '0x8', 0)).toThrow('--classes must be an integer >= 0 (in decimal digits), got "0x8"');
    expect(() => integerFlag('classes', '99999999999999999999', 0)).toThrow('--classes must be an integer >= 0 (at most 2^53 - 1 (9007199254740991) in size), got "99999999999999999999"');
    expect(() => integerFlag('batch', '2.5', 1)).toThrow(/^--batch must be an integer >= 1, got "2\.5"$/);
    expect(() => integerFlag('k', '0', 1)).toThrow(/^--k must be an integer >= 1, got "0"$/);
  });

  it('number flags take decimal numbers, with an exponent only for a fraction', () => {
    const positive = (name: string, value: string) => numberFlag(name, value, 1, (parsed) => parsed > 0, 'a positive number');
    expect(positive('lr', '1e-3')).toBe(0.001);
    expect(positive('lr', '0.5')).toBe(0.5);
    expect(() => positive('lr', '0x1')).toThrow('--lr must be a positive number (a decimal number (digits, an optional fraction and exponent)), got "0x1"');
    expect(() => positive('lr', 'Infinity')).toThrow(/--lr must be a positive number/);
    expect(() => positive('lr', '1e400')).toThrow('--lr must be a positive number (a finite number), got "1e400"');
    expect(() => positive('lr', '-1')).toThrow(/^--lr must be a positive number, got "-1"$/);
  });
});

describe('--set and variant options', () => {
  it('reads numbers, booleans and strings; refuses hex and whole exponent forms', () => {
    expect(parseSetOptions(['rank=8', 'alpha=0.5', 'lr=1e-3', 'hardGates=true', 'init=max-pool'])).toEqual({ rank: 8, alpha: 0.5, lr: 0.001, hardGates: true, init: 'max-pool' });
    expect(() => parseSetOptions(['rank=0x8'])).toThrow(new UsageError('--set rank=0x8: a number must be a decimal number (digits, an optional fraction and exponent)'));
    expect(() => parseSetOptions(['rank=1e3'])).toThrow('--set rank=1e3: a number must be written in digits when it is whole (1000), not as an exponent form');
    expect(() => parseSetOptions(['rank= 8'])).toThrow('--set rank= 8: a number must be a decimal number (digits, an optional fraction and exponent)');
    expect(parseSetOptions(['k=192x4,96x8', 'rank=8abc', 'x=Infinity'])).toEqual({ k: '192x4,96x8', rank: '8abc', x: 'Infinity' });
  });

  it('a variant name follows the same rule', () => {
    expect(parseVariant('lora[rank=8]', ['lora']).options).toEqual({ rank: 8 });
    expect(() => parseVariant('lora[rank=0x8]', ['lora'])).toThrow(/^method lora\[rank=0x8\]: option rank must be a decimal number \(digits, an optional fraction and exponent\), got "0x8"$/);
  });
});

describe('suite and config files', () => {
  it('JSON: a whole exponent form is read as its text, so the field refuses it; other numbers and strings are untouched', () => {
    expect(parseStrictJson('{"depth": 1e1, "lr": 1e-3, "n": -2.5e2, "x": 12, "name": "a 1e3 \\" 2e2", "list": [3e0, 0.5]}')).toEqual({
      depth: '1e1',
      lr: 0.001,
      n: '-2.5e2',
      x: 12,
      name: 'a 1e3 " 2e2',
      list: ['3e0', 0.5],
    });
    expect(parseStrictJson('{"mlpRatio": null}')).toEqual({ mlpRatio: null });
  });

  it("YAML: hex, octal and whole exponent forms stay strings (YAML's core schema reads 0x8 as 8)", () => {
    expect(parseStrictYaml('a: 0x8\nb: 0o10\nc: 1e3\nd: 1.5e-3\ne: 8\nf: 2.5\ng: ~\nh: true\ni: text')).toEqual({
      a: '0x8',
      b: '0o10',
      c: '1e3',
      d: 0.0015,
      e: 8,
      f: 2.5,
      g: null,
      h: true,
      i: 'text',
    });
  });
});

import type { Tags } from 'yaml';
import { parse as parseYaml } from 'yaml';

/**
 * How numbers are written wherever the app reads them (flags, `--set`, suite files, backbone
 * configs), one grammar for all:
 * - an integer: decimal digits with an optional sign (`8`, `-3`), at most 2^53 - 1 in size;
 * - any other number: decimal, with an optional fraction and exponent (`0.5`, `1e-3`, `2.5E+2`).
 * Refused: hex, octal and binary (`0x8`), `Infinity` and `NaN`, blanks around the digits, and an
 * exponent form that gives a whole number (`1e3`: write `1000`), which would otherwise pass as an
 * integer where one is expected. JSON's and YAML's `null` are never "the default": a field is
 * left out for that.
 */
const INTEGER = /^[-+]?[0-9]+$/;
const DECIMAL = /^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;
const EXPONENT = /[eE]/;

/**
 * Why `text` breaks the number grammar, or null when it does not (the caller still checks the
 * value: `2.5` passes the grammar in integer mode and fails the caller's integer check).
 */
export function numberTextProblem(text: string, integer: boolean): string | null {
  if (INTEGER.test(text)) return integer && !Number.isSafeInteger(Number(text)) ? 'at most 2^53 - 1 (9007199254740991) in size' : null;
  if (!DECIMAL.test(text)) return integer ? 'in decimal digits' : 'a decimal number (digits, an optional fraction and exponent)';
  const value = Number(text);
  if (!Number.isFinite(value)) return 'a finite number';
  if (integer && EXPONENT.test(text)) return 'in decimal digits, not an exponent form';
  if (integer && Number.isInteger(value)) return 'in decimal digits, without a fraction';
  if (wholeExponent(text)) return `written in digits when it is whole (${value}), not as an exponent form`;
  return null;
}

/** True for an exponent form whose value is a whole number (`1e3`, `2.5e1`): ambiguous where an integer is read. */
function wholeExponent(text: string): boolean {
  return EXPONENT.test(text) && Number.isInteger(Number(text));
}

/**
 * JSON text parsed with the app's number rules: a number token in an exponent form that gives a
 * whole number is read as its text (a string), so the field reading it refuses it with its name
 * (`depth must be an integer >= 1, got "1e1"`). JSON itself has no hex, `NaN` or `Infinity`.
 */
export function parseStrictJson(text: string): unknown {
  const token = /"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/g;
  return JSON.parse(text.replace(token, (match) => (match.startsWith('"') || !wholeExponent(match) ? match : JSON.stringify(match))));
}

/**
 * YAML text parsed with the app's number rules: `0x8` and `0o10` stay strings (YAML's core schema
 * reads them as 8), and so does an exponent form that gives a whole number; the field reading one
 * refuses it with its name.
 */
export function parseStrictYaml(text: string): unknown {
  const customTags = (tags: Tags): Tags =>
    tags
      .filter((tag) => typeof tag === 'string' || !(tag.format === 'HEX' || tag.format === 'OCT'))
      .map((tag) =>
        typeof tag !== 'string' && tag.format === 'EXP' && 'resolve' in tag
          ? { ...tag, resolve: (source: string) => (wholeExponent(source) ? source : Number(source)) }
          : tag,
      ) as Tags;
  return parseYaml(text, { customTags });
}

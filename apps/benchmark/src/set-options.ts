import { UsageError } from './errors';
import { numberTextProblem } from './number-text';

export type OptionValue = string | number | boolean;

/**
 * `--set key=value` pairs as a typed object: numbers and booleans are parsed, everything else stays
 * a string. Methods validate their own options; this only checks the form (and that a value that
 * starts like a number is one as `number-text.ts` writes them: `rank=0x8` and `rank=1e3` are refused).
 */
export function parseSetOptions(pairs: readonly string[]): Record<string, OptionValue> {
  const options: Record<string, OptionValue> = {};
  for (const pair of pairs) {
    const match = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(pair);
    if (match === null) throw new UsageError(`--set must be key=value with a camelCase key, got ${JSON.stringify(pair)}`);
    const [, key, raw] = match as unknown as [string, string, string];
    if (Object.hasOwn(options, key)) throw new UsageError(`--set ${key} is given twice`);
    options[key] = parseOptionValue(raw, (rule) => {
      throw new UsageError(`--set ${key}=${raw}: a number must be ${rule}`);
    });
  }
  return options;
}

/**
 * One option's value as `--set` reads it: true / false, a number, else the string. Text that starts
 * like a number (a digit, or a sign or point before one) must be a number as the app writes them;
 * `fail` gets the rule it broke.
 */
export function parseOptionValue(raw: string, fail: (rule: string) => never): OptionValue {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (!/^[-+]?\.?[0-9]/.test(raw)) return raw;
  const problem = numberTextProblem(raw, false);
  if (problem !== null) fail(problem);
  return Number(raw);
}

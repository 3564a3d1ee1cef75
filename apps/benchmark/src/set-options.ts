import { UsageError } from './errors';
import { numberTextProblem } from './number-text';

export type OptionValue = string | number | boolean;

/**
 * `--set key=value` pairs as a typed object: numbers and booleans are parsed, everything else stays
 * a string. Methods validate their own options; this only checks the form (and refuses numbers
 * written outside `number-text.ts`'s grammar: `rank=0x8` and `rank=1e3`).
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
 * One option's value as `--set` reads it: true / false, a number, else the string. Text that
 * JavaScript would read as a number but the app's grammar does not (`0x8`, ` 8`, `1e3` for 1000)
 * is refused rather than guessed: `fail` gets the rule it broke. Other text (`192x4,96x8`) stays a string.
 */
export function parseOptionValue(raw: string, fail: (rule: string) => never): OptionValue {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw.trim() === '' || !Number.isFinite(Number(raw))) return raw;
  const problem = numberTextProblem(raw, false);
  if (problem !== null) fail(problem);
  return Number(raw);
}

import { UsageError } from './errors';

export type OptionValue = string | number | boolean;

/**
 * `--set key=value` pairs as a typed object: numbers and booleans are parsed, everything else stays
 * a string. Methods validate their own options; this only checks the form.
 */
export function parseSetOptions(pairs: readonly string[]): Record<string, OptionValue> {
  const options: Record<string, OptionValue> = {};
  for (const pair of pairs) {
    const match = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(pair);
    if (match === null) throw new UsageError(`--set must be key=value with a camelCase key, got ${JSON.stringify(pair)}`);
    const [, key, raw] = match as unknown as [string, string, string];
    if (Object.hasOwn(options, key)) throw new UsageError(`--set ${key} is given twice`);
    options[key] = parseOptionValue(raw);
  }
  return options;
}

/** One option's value as `--set` reads it: true / false, a finite number, else the string. */
export function parseOptionValue(raw: string): OptionValue {
  return raw === 'true' ? true : raw === 'false' ? false : raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
}

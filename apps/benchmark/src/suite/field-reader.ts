import { ConfigError } from '@visual-peft/vit-core';
import type { Grid } from './recipes';

export type Json = unknown;

/**
 * Field checks of a suite file: each error names the file, the field, the value and the rule. A
 * `null` is refused like any other wrong type (leave a field out for its default); numbers arrive
 * read by `parseStrictJson`/`parseStrictYaml`, so `0x8` and `1e3` reach here as strings and are refused.
 */
export class FieldReader {
  constructor(private readonly file: string) {}

  fail(field: string, value: Json, rule: string): never {
    throw new ConfigError(`${this.file}: ${field}`, value, rule);
  }

  record(field: string, value: Json, keys: readonly string[]): Record<string, Json> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) this.fail(field, value, 'must be an object');
    for (const key of Object.keys(value)) {
      if (!keys.includes(key)) this.fail(field === '' ? key : `${field}.${key}`, (value as Record<string, Json>)[key], `is not a known field (fields: ${keys.join(', ')})`);
    }
    return value as Record<string, Json>;
  }

  list(field: string, value: Json): Json[] {
    if (!Array.isArray(value) || value.length === 0) this.fail(field, value, 'must be a non-empty list');
    return value;
  }

  number(field: string, value: Json, rule: (v: number) => boolean, description: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || !rule(value)) this.fail(field, value, `must be ${description}`);
    return value;
  }

  /** An integer >= `minimum` and at most 2^53 - 1 (a larger one is no longer exact). */
  integer(field: string, value: Json, minimum: number): number {
    const unsafe = typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value);
    return this.number(field, value, (v) => Number.isSafeInteger(v) && v >= minimum, `an integer >= ${minimum}${unsafe ? ' of at most 2^53 - 1' : ''}`);
  }

  string(field: string, value: Json, choices?: readonly string[]): string {
    if (typeof value !== 'string' || value === '') this.fail(field, value, 'must be a non-empty string');
    if (choices !== undefined && !choices.includes(value)) this.fail(field, value, `must be one of ${choices.join(', ')}`);
    return value;
  }

  unique<T>(field: string, values: T[]): T[] {
    const seen = new Set<T>();
    for (const [index, value] of values.entries()) {
      if (seen.has(value)) this.fail(`${field}[${index}]`, value, 'must not repeat an earlier entry');
      seen.add(value);
    }
    return values;
  }

  grid(field: string, value: Json): Grid {
    const raw = this.record(field, value, ['learningRates', 'weightDecays']);
    const rates = raw.learningRates === undefined ? undefined : this.list(`${field}.learningRates`, raw.learningRates);
    const decays = raw.weightDecays === undefined ? undefined : this.list(`${field}.weightDecays`, raw.weightDecays);
    if (rates === undefined || decays === undefined) this.fail(field, value, 'must give both learningRates and weightDecays');
    return {
      learningRates: this.unique(`${field}.learningRates`, rates.map((v, i) => this.number(`${field}.learningRates[${i}]`, v, (x) => x > 0, 'a positive number'))),
      weightDecays: this.unique(`${field}.weightDecays`, decays.map((v, i) => this.number(`${field}.weightDecays[${i}]`, v, (x) => x >= 0, 'a non-negative number'))),
    };
  }
}

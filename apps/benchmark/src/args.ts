import { parseArgs } from 'node:util';
import type { BackendPreference } from '@visual-peft/backends';
import { BACKEND_PREFERENCES } from '@visual-peft/backends';
import type { DatasetName } from '@visual-peft/datasets';
import { DATASET_NAMES } from '@visual-peft/datasets';
import { UsageError } from './errors';
import { numberTextProblem } from './number-text';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Flags of one command, strictly: an unknown flag or a stray positional is a usage error. */
export function parseCommandArgs<T extends OptionSpec>(command: string, args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** `parseCommandArgs` for a command that also takes operands (file names after the flags). */
export function parseCommandArgsAndOperands<T extends OptionSpec>(command: string, args: readonly string[], options: T) {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
    return { values, operands: positionals };
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message.split('\n')[0]}`);
  }
}

export function requireFlag(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`${command}: --${name} is required`);
  return value;
}

/** A non-negative or positive integer flag in decimal digits (`number-text.ts`), or undefined when absent. */
export function integerFlag(name: string, value: string | undefined, minimum: number): number | undefined {
  if (value === undefined) return undefined;
  const problem = numberTextProblem(value, true);
  if (problem !== null || !Number.isInteger(Number(value)) || Number(value) < minimum) {
    throw new UsageError(`--${name} must be an integer >= ${minimum}${problem === null ? '' : ` (${problem})`}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A decimal number flag (`number-text.ts`) that must satisfy `rule` (described for the message), or `fallback` when absent. */
export function numberFlag(name: string, value: string | undefined, fallback: number, rule: (value: number) => boolean, description: string): number {
  if (value === undefined) return fallback;
  const problem = numberTextProblem(value, false);
  if (problem !== null || !rule(Number(value))) {
    throw new UsageError(`--${name} must be ${description}${problem === null ? '' : ` (${problem})`}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A flag's value that must be one of `choices`. */
export function choiceFlag<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** `--dataset`: required, one of the datasets the `data` command knows. */
export function datasetFlag(command: string, value: string | undefined): DatasetName {
  return choiceFlag('dataset', requireFlag(command, 'dataset', value), DATASET_NAMES);
}

export function backendFlag(value: string | undefined): BackendPreference {
  const backend = value ?? 'auto';
  if (!(BACKEND_PREFERENCES as readonly string[]).includes(backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_PREFERENCES.join(', ')}, got ${JSON.stringify(backend)}`);
  }
  return backend as BackendPreference;
}

export const BACKEND_OPTION = { backend: { type: 'string' } } as const;

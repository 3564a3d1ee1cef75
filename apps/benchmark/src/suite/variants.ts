import { ConfigError } from '@visual-peft/vit-core';
import type { OptionValue } from '../set-options';
import { parseOptionValue } from '../set-options';

/**
 * A method with some options fixed in its name, `base[key=value,...]`: `sct[selection=random]`,
 * `gated-prompt[hardGates=true]`, `spt-deep[init=max-pool]`, `vpt-shallow[numPrompts=100]`. Each
 * variant is a method of its own in a suite (its own jobs, table row and plot style) with its
 * base's recipe and these options over it. Values read as `--set key=value` reads them.
 */
export interface MethodVariant {
  /** Canonical name: keys sorted, values as parsed (`scale=0.10` is `scale=0.1`); the base alone when no options. */
  readonly name: string;
  /** The recipe (suite) or registry (`train`) name the variant derives from. */
  readonly base: string;
  /** The options the name fixes; empty for a plain method. */
  readonly options: Readonly<Record<string, OptionValue>>;
}

/** A variant's option that is malformed, unknown to its method, or out of the method's rules: names the variant, key, value and rule. */
export class VariantOptionError extends ConfigError {
  constructor(
    readonly variant: string,
    readonly key: string,
    value: unknown,
    rule: string,
  ) {
    super(`method ${variant}: option ${key}`, value, rule);
  }
}

/** A method name: kebab-case, or two joined by + (a two-stage method, `vqt+vpt-deep`). */
const BASE = /^[a-z0-9]+(-[a-z0-9]+)*(\+[a-z0-9]+(-[a-z0-9]+)*)?$/;
const KEY = /^[A-Za-z][A-Za-z0-9]*$/;
// Values stay in characters that are safe in file names (the job id carries them) and free of the syntax's own , [ ] =.
const VALUE = /^[A-Za-z0-9._+-]+$/;

/**
 * Parses `base` or `base[key=value,...]`, checking the form only (the method checks its options
 * when it is built). `bases` are the names the base may take.
 */
export function parseVariant(text: string, bases: readonly string[]): MethodVariant {
  const match = /^([^[\]]*)(?:\[(.*)\])?$/.exec(text);
  const base = match?.[1] ?? '';
  if (match === null || !BASE.test(base) || !bases.includes(base)) throw new ConfigError('method', text, `must be one of ${bases.join(', ')}, optionally with options as name[key=value,...]`);
  if (match[2] === undefined) return { name: base, base, options: {} };
  const options: Record<string, OptionValue> = {};
  for (const pair of match[2].split(',')) {
    const [key = '', raw, ...rest] = pair.split('=');
    if (!KEY.test(key)) throw new VariantOptionError(text, key, pair, 'must be key=value with a camelCase key');
    if (raw === undefined || rest.length > 0 || !VALUE.test(raw)) throw new VariantOptionError(text, key, raw ?? '', 'must be one value of letters, digits and . _ + - (no , [ ] =)');
    if (Object.hasOwn(options, key)) throw new VariantOptionError(text, key, raw, 'is given twice');
    options[key] = parseOptionValue(raw, (rule) => {
      throw new VariantOptionError(text, key, raw, `must be ${rule}`);
    });
  }
  return { name: variantName(base, options), base, options };
}

/** `base[a=1,b=x]` with the keys sorted; the base alone without options. */
export function variantName(base: string, options: Readonly<Record<string, OptionValue>>): string {
  const keys = Object.keys(options).sort();
  return keys.length === 0 ? base : `${base}[${keys.map((key) => `${key}=${String(options[key])}`).join(',')}]`;
}

/**
 * A method's name in job ids and file names: a variant's `[a=1,b=x]` becomes `@a=1@b=x` (no
 * brackets for shells to glob); a plain name stays as it is, so existing ids do not change.
 * One-to-one, since keys and values hold no `@` or `=` of their own.
 */
export function variantId(name: string): string {
  const open = name.indexOf('[');
  return open < 0 ? name : `${name.slice(0, open)}@${name.slice(open + 1, -1).split(',').join('@')}`;
}

/** A comma-separated list of methods (`--methods`), whose variants' own commas inside [ ] do not split it. */
export function splitMethodList(value: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    const char = value[i];
    if (char === '[') depth += 1;
    else if (char === ']') depth -= 1;
    else if (i === value.length || (char === ',' && depth === 0)) {
      items.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  return items;
}

/**
 * An error from building a variant's method, as one line naming the variant, the option, its value
 * and the method's rule; other errors pass through.
 */
export function variantBuildError(variant: string, error: unknown): unknown {
  if (!(error instanceof ConfigError)) return error;
  // Methods name an option by itself or under their own prefix ('sct.foo').
  return new VariantOptionError(variant, error.field.slice(error.field.lastIndexOf('.') + 1), error.value, error.rule);
}

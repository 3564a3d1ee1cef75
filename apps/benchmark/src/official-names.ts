import type { OfficialNames } from '@visual-peft/vit-core';
import { ConfigError } from '@visual-peft/vit-core';
import { methodDefinitions } from './methods';

/** Every registered method's mapping to its official code's parameter names (each method package defines its own). */
export function officialNameMappings(): OfficialNames[] {
  return methodDefinitions().flatMap((definition) => (definition.officialNames === undefined ? [] : [definition.officialNames]));
}

/** The mapping of a method, or a `ConfigError` naming the methods that have one. */
export function officialNames(method: string): OfficialNames {
  const mappings = officialNameMappings();
  const found = mappings.find((names) => names.method === method);
  if (found === undefined) throw new ConfigError('method', method, `has no official parameter names here (mapped: ${mappings.map((names) => names.method).join(', ')})`);
  return found;
}

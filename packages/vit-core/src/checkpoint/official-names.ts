import { ConfigError, FormatError } from '../errors';
import type { HostTensor, StateDict } from './host-tensor';

/**
 * One tensor of a tuned-weights file (`<method>/<name>` for the method's own tensors, timm's key
 * for a backbone weight such as the head) and its name in the official code's model state dict.
 * `{i}` stands for a block index. `stack`: the official code keeps the per-block tensors ([1, T, D]
 * each) as one parameter with a leading block axis ([L, T, D]).
 */
export interface OfficialTensor {
  readonly tuned: string;
  readonly official: string;
  readonly stack?: true;
}

/**
 * How a method that does not fold into the backbone is written under its official code's parameter
 * names (a method package exports one per method, and its `MethodDefinition.officialNames` holds it),
 * so a tuned method goes to PyTorch and an official checkpoint's method parameters come back.
 */
export interface OfficialNames {
  /** The method's registry name (`MethodDefinition.name`), the prefix of its tensors in a tuned-weights file. */
  readonly method: string;
  /** The official repository, commit and files the names come from. */
  readonly source: string;
  readonly tensors: readonly OfficialTensor[];
  /** Tuned-file tensors the official model has no place for and that are left out (a head the method does not use). */
  readonly unused: readonly string[];
  /** Options the official code has no choice of: the mapping holds only with these values. */
  readonly requires: Readonly<Record<string, unknown>>;
  /** The method's size options read back from official tensors (by official name), for `import`. */
  readonly sizes: (official: (name: string) => HostTensor | undefined, depth: number) => Record<string, unknown>;
}

/** A tensor's size along an axis, or undefined where the tensor is absent (for `OfficialNames.sizes`). */
export const officialDim = (tensor: HostTensor | undefined, axis: number): number | undefined => tensor?.shape[axis];

/** `{i}` patterns as regular expressions capturing the block index. */
const pattern = (name: string): RegExp => new RegExp(`^${name.replace(/[.]/g, '\\.').replace('{i}', '(\\d+)')}$`);

/** Refuses a config whose options the official code has no choice of. */
function checkRequires(names: OfficialNames, config: Readonly<Record<string, unknown>>, source: string): void {
  for (const [option, value] of Object.entries(names.requires)) {
    if (JSON.stringify(config[option]) !== JSON.stringify(value)) {
      throw new ConfigError(`${source}: ${names.method} option ${option}`, config[option], `must be ${JSON.stringify(value)} to be written under the official code's names (${names.source.split(':')[0]} has no other)`);
    }
  }
}

function concat(parts: readonly HostTensor[], shape: number[]): HostTensor {
  const data = new Float32Array(parts.reduce((total, part) => total + part.data.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part.data as Float32Array, offset);
    offset += part.data.length;
  }
  return { dtype: 'float32', shape, data };
}

/**
 * A tuned-weights file's tensors under the official code's names. Every tensor of the file must
 * have a place (a backbone weight other than the head, trained by a policy, has none: the official
 * code trains the method and the head only); per-block tensors stacked where the code stacks them.
 */
export function toOfficialNames(names: OfficialNames, config: Readonly<Record<string, unknown>>, tensors: ReadonlyMap<string, HostTensor>, source: string): StateDict {
  checkRequires(names, config, source);
  const out: StateDict = new Map();
  const stacks = new Map<string, { index: number; tensor: HostTensor }[]>();
  const homeless: string[] = [];
  for (const [key, tensor] of tensors) {
    if (names.unused.includes(key)) continue;
    const entry = names.tensors.map((candidate) => ({ candidate, match: pattern(candidate.tuned).exec(key) })).find(({ match }) => match !== null);
    if (entry === undefined) {
      homeless.push(key);
      continue;
    }
    const official = entry.candidate.official.replace('{i}', entry.match![1] ?? '');
    if (entry.candidate.stack === true) {
      const list = stacks.get(official) ?? [];
      list.push({ index: Number(entry.match![1]), tensor });
      stacks.set(official, list);
    } else out.set(official, tensor);
  }
  if (homeless.length > 0) {
    throw new FormatError(source, `${names.method}: the official code has no parameter for ${homeless.join(', ')} (it trains the method and the head only)`);
  }
  for (const [official, list] of stacks) {
    list.sort((a, b) => a.index - b.index);
    const [first] = list;
    const rest = first!.tensor.shape.slice(1);
    if (list.some(({ index, tensor }, position) => index !== position || tensor.shape[0] !== 1 || tensor.shape.slice(1).join() !== rest.join())) {
      throw new FormatError(source, `${names.method}: ${official} stacks one [1, ${rest.join(', ')}] tensor per block, from block 0 on; the file's are ${list.map(({ index, tensor }) => `${index}: [${tensor.shape.join(', ')}]`).join(', ')}`);
    }
    out.set(official, concat(list.map(({ tensor }) => tensor), [list.length, ...rest]));
  }
  return out;
}

/**
 * The inverse: from a state dict under the official names (an export, or the method's parameters
 * of an official checkpoint, where every other key is left alone) to tuned-file tensors. Returns
 * the tensors and the official keys that were not read.
 */
export function fromOfficialNames(names: OfficialNames, official: ReadonlyMap<string, HostTensor>): { tensors: StateDict; ignored: string[] } {
  const tensors: StateDict = new Map();
  const ignored: string[] = [];
  for (const [key, tensor] of official) {
    const entry = names.tensors.map((candidate) => ({ candidate, match: pattern(candidate.official).exec(key) })).find(({ match }) => match !== null);
    if (entry === undefined) {
      ignored.push(key);
      continue;
    }
    if (entry.candidate.stack === true) {
      const [blocks, ...rest] = tensor.shape;
      const size = rest.reduce((a, b) => a * b, 1);
      for (let block = 0; block < blocks!; block++) {
        tensors.set(entry.candidate.tuned.replace('{i}', String(block)), {
          dtype: tensor.dtype,
          shape: [1, ...rest],
          data: (tensor.data as Float32Array).slice(block * size, (block + 1) * size),
        } as HostTensor);
      }
    } else tensors.set(entry.candidate.tuned.replace('{i}', entry.match![1] ?? ''), tensor);
  }
  return { tensors, ignored };
}

/** The official name of a tuned-file key (`<method>/<name>` or a backbone key), or the key itself where none maps. */
export function officialName(names: OfficialNames, tuned: string): string {
  for (const candidate of names.tensors) {
    const match = pattern(candidate.tuned).exec(tuned);
    if (match !== null) return candidate.stack === true ? `${candidate.official}[${match[1]}]` : candidate.official.replace('{i}', match[1] ?? '');
  }
  return tuned;
}

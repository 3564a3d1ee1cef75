import type { HostTensor, StateDict } from '@visual-peft/vit-core';
import { ConfigError, FormatError } from '@visual-peft/vit-core';

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

/** How a method that does not fold into the backbone is written under the official code's names. */
export interface OfficialNames {
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

const dim = (tensor: HostTensor | undefined, axis: number): number | undefined => tensor?.shape[axis];

/** The name mappings, written once. Each source is the official code's file that defines the parameters. */
export const OFFICIAL_NAMES: readonly OfficialNames[] = [
  {
    method: 'gated-prompt',
    // The SSLViT wrapper keeps the prompted ViT as `enc` and VPT's MLP head (MLP_NUM 0: `last_layer` only) as `head`.
    source:
      'ryongithub/GatedPromptTuning@a9200bbbba91cbcb0fc501c591689ea6d0971432: src/models/vit_prompt/vit_mae.py (prompt_embeddings, temp, gate_logit), src/models/vit_models.py (enc, head = MLP), KMnP/vpt src/models/mlp.py (last_layer)',
    tensors: [
      { tuned: 'gated-prompt/prompt_embeddings', official: 'enc.prompt_embeddings' },
      { tuned: 'gated-prompt/gate_logit', official: 'enc.gate_logit' },
      { tuned: 'gated-prompt/temp', official: 'enc.temp' },
      { tuned: 'head.weight', official: 'head.last_layer.weight' },
      { tuned: 'head.bias', official: 'head.last_layer.bias' },
    ],
    unused: [],
    // The code inserts prompts before block 1 and has soft gates only.
    requires: { promptBlock: 0, hardGates: false },
    sizes: (official) => ({
      numPrompts: dim(official('enc.prompt_embeddings'), 1),
      gates: official('enc.gate_logit') !== undefined,
      temperature: official('enc.temp') !== undefined,
    }),
  },
  {
    method: 'sct',
    // `sct_attn` is the ChannelAdapter after attention; its `channel_index` is a plain attribute there
    // (the code recomputes it with getSalientChannels), written here so the file is complete.
    source:
      'zhaohengyuan1/SCT@01e8f1e39f2e2a486b2dfaca97acbb382eeedb9a: models/vision_transformer_sct.py (Block.sct_attn = ChannelAdapter: adapt_linear, channel_index), utils.py (save: sct and head parameters)',
    tensors: [
      { tuned: 'sct/blocks.{i}.attn.weight', official: 'blocks.{i}.sct_attn.adapt_linear.weight' },
      { tuned: 'sct/blocks.{i}.attn.bias', official: 'blocks.{i}.sct_attn.adapt_linear.bias' },
      { tuned: 'sct/blocks.{i}.attn.channels', official: 'blocks.{i}.sct_attn.channel_index' },
      { tuned: 'head.weight', official: 'head.weight' },
      { tuned: 'head.bias', official: 'head.bias' },
    ],
    unused: [],
    // The code's module sits on the stream after attention and adds its output unscaled (the scale is commented out);
    // its `sct_mlp` acts on the MLP branch before the residual add, which our 'mlp' position does not.
    requires: { position: 'attn', scale: 1 },
    sizes: (official, depth) => {
      const blocks = [...Array(depth).keys()].filter((block) => official(`blocks.${block}.sct_attn.adapt_linear.weight`) !== undefined);
      return { k: blocks.map((block) => dim(official(`blocks.${block}.sct_attn.adapt_linear.weight`), 0)), lastBlocks: blocks.length };
    },
  },
  {
    method: 'vqt',
    // H2TViT keeps the ViT as `enc` (Head2ToeVisionTransformer: transformer.encoder.query_prompt_embeddings [L, T, D])
    // and VPT's MLP head as `head`; the kept features are the forward's `feat_select_ids` argument.
    source:
      'andytu28/VQT@b5de9a6986ebfccf43037ab154702e22932e9b5f: src/models/vit_backbones/h2t_vit.py (Head2ToeEncoder.query_prompt_embeddings), src/models/build_h2t_model.py (H2TViT: enc, head = MLP), head2toe_sparsity_train.py (feat_select_ids)',
    tensors: [
      { tuned: 'vqt/blocks.{i}.queries', official: 'enc.transformer.encoder.query_prompt_embeddings', stack: true },
      { tuned: 'vqt/head.weight', official: 'head.last_layer.weight' },
      { tuned: 'vqt/head.bias', official: 'head.last_layer.bias' },
      { tuned: 'vqt/head.features', official: 'feat_select_ids' },
    ],
    // VQT classifies with its own head; the backbone's stays unused.
    unused: ['head.weight', 'head.bias'],
    requires: {},
    sizes: (official) => ({
      numQueries: dim(official('enc.transformer.encoder.query_prompt_embeddings'), 1),
      numClasses: dim(official('head.last_layer.weight'), 0),
    }),
  },
];

/** The mapping of a method, or a `ConfigError` naming the methods that have one. */
export function officialNames(method: string): OfficialNames {
  const found = OFFICIAL_NAMES.find((names) => names.method === method);
  if (found === undefined) {
    throw new ConfigError('method', method, `has no official parameter names here (mapped: ${OFFICIAL_NAMES.map((names) => names.method).join(', ')})`);
  }
  return found;
}

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

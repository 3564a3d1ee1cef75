import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor, MethodDefinition, TuningMethod, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import {
  ConfigError,
  FormatError,
  assignParameter,
  checkMethodWeights,
  fromHostTensor,
  parseSafetensors,
  readParameter,
  serializeSafetensors,
  toHostTensor,
} from '@visual-peft/vit-core';
import { requireFloat32Shape } from './host-tensors';

export const TUNED_WEIGHTS_FORMAT = 'visual-peft-tuned-weights';

/** The JSON beside a tuned-weights file: enough to rebuild the methods on a fresh backbone. */
export interface TunedWeightsManifest {
  readonly format: typeof TUNED_WEIGHTS_FORMAT;
  readonly version: 1;
  /** The backbone's config; a backbone to load into must match its architecture. */
  readonly backbone: VitConfig;
  /** The methods in attach order, each with its `config` (what `MethodDefinition.create` takes back). */
  readonly methods: readonly { readonly name: string; readonly config: Readonly<Record<string, unknown>> }[];
  /** Classes of the saved head (0: none). */
  readonly numClasses: number;
  /** Backbone weights stored (timm keys): the head's and every other weight that was trainable. */
  readonly backboneWeights: readonly string[];
  /** Backbone weights whose `trainable` flag was set. */
  readonly trainable: readonly string[];
  /** The head's class names in label order (the dataset's names, an image folder's folder names), where the run knew them. */
  readonly classNames?: readonly string[];
  /** Where the frozen backbone came from, so `loadTunedModel` can rebuild it; absent: the caller names it. */
  readonly backboneInit?: BackboneInit;
}

/**
 * The frozen backbone a tuned-weights file was trained on (it is not saved in the file): a
 * pretrained checkpoint (its path, and where `fc_norm` came from as in `loadStateDict`), or a
 * randomly initialised backbone (`new VisionTransformer(config, { seed })`).
 */
export type BackboneInit =
  | { readonly weights: string; readonly fcNorm: 'checkpoint' | 'from-norm' | 'fresh' }
  | { readonly weights: null; readonly seed: number };

/** What a run knows beyond the model and its methods, kept in the manifest. */
export interface TunedRunInfo {
  readonly classNames?: readonly string[];
  readonly backboneInit?: BackboneInit;
}

/** The fields that fix a backbone's function; `numClasses` (a new head) and training-only fields may differ. */
const ARCHITECTURE_FIELDS = [
  'imgSize', 'patchSize', 'inChans', 'embedDim', 'depth', 'numHeads', 'mlpRatio', 'qkvBias', 'classToken', 'globalPool', 'fcNorm', 'layerNormEps',
] as const satisfies readonly (keyof VitConfig)[];

/**
 * The tuned state of a model: each method's `weights()` under `<method name>/<name>`, and under
 * timm's keys (timm's layout) the head and every backbone weight whose `trainable` flag is set.
 */
export function tunedTensors(model: VisionTransformer, methods: readonly TuningMethod[]): Map<string, HostTensor> {
  const tensors = new Map<string, HostTensor>();
  for (const method of methods) {
    const weights = method.weights();
    try {
      for (const [name, tensor] of weights) tensors.set(`${method.name}/${name}`, toHostTensor(tensor));
    } finally {
      tf.dispose([...weights.values()]);
    }
  }
  for (const parameter of model.parameters) {
    if (parameter.key.startsWith('head.') || parameter.variable.trainable) tensors.set(parameter.key, readParameter(parameter));
  }
  return tensors;
}

/**
 * Puts a tuned state back (the inverse of `tunedTensors`). Everything is checked first: each
 * method's tensors by `checkMethodWeights` (names, dtypes, shapes; values too where the method checks them), and every other tensor
 * must be a backbone weight of the right shape; nothing is written unless all fit.
 */
export function restoreTunedTensors(
  model: VisionTransformer,
  methods: readonly TuningMethod[],
  tensors: ReadonlyMap<string, HostTensor>,
  source: string,
): void {
  const perMethod = methods.map((method) => {
    const prefix = `${method.name}/`;
    return new Map([...tensors].filter(([key]) => key.startsWith(prefix)).map(([key, host]) => [key.slice(prefix.length), fromHostTensor(host)]));
  });
  try {
    methods.forEach((method, index) => checkMethodWeights(method, perMethod[index]!, `${source} (${method.name})`));
    const claimed = new Set(methods.flatMap((method, index) => [...perMethod[index]!.keys()].map((name) => `${method.name}/${name}`)));
    const backbone = [...tensors.keys()].filter((key) => !claimed.has(key));
    const parameters = new Map(model.parameters.map((parameter) => [parameter.key, parameter]));
    const unknown = backbone.filter((key) => !parameters.has(key));
    if (unknown.length > 0) throw new FormatError(source, `tensors that are neither a method's nor a backbone weight: ${unknown.join(', ')}`);
    for (const key of backbone) requireFloat32Shape(source, key, tensors.get(key)!, parameters.get(key)!.timmShape);
    methods.forEach((method, index) => method.loadWeights(perMethod[index]!));
    for (const key of backbone) assignParameter(parameters.get(key)!, tensors.get(key)!, source);
  } finally {
    tf.dispose(perMethod.flatMap((weights) => [...weights.values()]));
  }
}

/** A tuned-weights file's contents: the manifest (kept in its metadata) and its tensors. */
export interface TunedWeights {
  readonly manifest: TunedWeightsManifest;
  readonly tensors: Map<string, HostTensor>;
}

/** The tuned tensors of a model and its methods, with the manifest that describes them (the methods' names must differ). */
export function encodeTunedWeightsWithManifest(
  model: VisionTransformer,
  methods: readonly TuningMethod[],
  info: TunedRunInfo = {},
): { bytes: Uint8Array; manifest: TunedWeightsManifest } {
  const names = methods.map((method) => method.name);
  if (new Set(names).size !== names.length) throw new ConfigError('methods', names, 'must have distinct names');
  checkRunInfo(info, model.numClasses, (field, value, rule) => new ConfigError(field, value, rule));
  const tensors = tunedTensors(model, methods);
  const manifest: TunedWeightsManifest = {
    format: TUNED_WEIGHTS_FORMAT,
    version: 1,
    backbone: model.config,
    methods: methods.map((method) => ({ name: method.name, config: method.config })),
    numClasses: model.numClasses,
    backboneWeights: [...tensors.keys()].filter((key) => !key.includes('/')),
    trainable: model.parameters.filter((parameter) => parameter.variable.trainable).map((parameter) => parameter.key),
    ...(info.classNames === undefined ? {} : { classNames: [...info.classNames] }),
    ...(info.backboneInit === undefined ? {} : { backboneInit: info.backboneInit }),
  };
  return { bytes: serializeSafetensors(tensors, { format: TUNED_WEIGHTS_FORMAT, manifest: JSON.stringify(manifest) }), manifest };
}

/**
 * The attached methods' weights apart from the backbone as safetensors bytes (the methods' tensors,
 * the head and any trainable backbone weight, the manifest in the metadata): the bytes
 * `saveTunedWeights` writes, to download or store without a file system.
 */
export function encodeTunedWeights(model: VisionTransformer, methods: readonly TuningMethod[], info: TunedRunInfo = {}): Uint8Array {
  return encodeTunedWeightsWithManifest(model, methods, info).bytes;
}

/** Checks the optional run fields (one check for writing, where they are a caller's config, and reading, where they are a file's). */
function checkRunInfo(info: TunedRunInfo, numClasses: number, fail: (field: string, value: unknown, rule: string) => Error): void {
  const { classNames, backboneInit } = info;
  if (classNames !== undefined && (!Array.isArray(classNames) || classNames.length !== numClasses || !classNames.every((name) => typeof name === 'string'))) {
    throw fail('classNames', classNames, `must be ${numClasses} strings, one per class of the head`);
  }
  if (backboneInit === undefined) return;
  const init = backboneInit as { weights?: unknown; fcNorm?: unknown; seed?: unknown };
  const valid =
    init !== null && typeof init === 'object' &&
    ((typeof init.weights === 'string' && ['checkpoint', 'from-norm', 'fresh'].includes(init.fcNorm as string)) || (init.weights === null && Number.isSafeInteger(init.seed)));
  if (!valid) throw fail('backboneInit', backboneInit, "must be { weights: <path>, fcNorm: 'checkpoint' | 'from-norm' | 'fresh' } or { weights: null, seed: <integer> }");
}

/** Checks a parsed manifest's fields; `source` names where it came from. */
export function checkTunedWeightsManifest(value: unknown, source: string): TunedWeightsManifest {
  const manifest = value as TunedWeightsManifest;
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== TUNED_WEIGHTS_FORMAT || manifest.version !== 1) {
    throw new FormatError(source, `is not a version-1 ${TUNED_WEIGHTS_FORMAT} manifest`);
  }
  if (!Array.isArray(manifest.methods) || !Array.isArray(manifest.trainable) || typeof manifest.backbone !== 'object' || !Number.isSafeInteger(manifest.numClasses)) {
    throw new FormatError(source, 'must hold backbone, methods, numClasses and trainable');
  }
  checkRunInfo(manifest, manifest.numClasses, (field, value, rule) => new FormatError(source, `its ${field} ${rule}, got ${JSON.stringify(value)}`));
  return manifest;
}

/** Reads tuned-weights bytes (from `encodeTunedWeights` or a `saveTunedWeights` file) without touching any model. */
export function decodeTunedWeights(bytes: Uint8Array, source = '<bytes>'): TunedWeights {
  const { tensors, metadata } = parseSafetensors(bytes, source);
  if (metadata.format !== TUNED_WEIGHTS_FORMAT || metadata.manifest === undefined) {
    throw new FormatError(source, `is not ${TUNED_WEIGHTS_FORMAT} safetensors (its metadata must hold format and manifest)`);
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(metadata.manifest);
  } catch (error) {
    throw new FormatError(source, `its manifest is not valid JSON (${(error as Error).message})`);
  }
  return { manifest: checkTunedWeightsManifest(manifest, source), tensors };
}

/** Checks that a backbone has the architecture a tuned-weights file was tuned on (its class count may differ). */
export function checkTunedBackbone(config: VitConfig, manifest: TunedWeightsManifest, source: string): void {
  for (const field of ARCHITECTURE_FIELDS) {
    const saved = JSON.stringify(manifest.backbone[field]);
    if (JSON.stringify(config[field]) !== saved) {
      throw new ConfigError(`model.config.${field}`, config[field], `must equal the ${field} of the backbone ${source} was tuned on (${saved})`);
    }
  }
}

/**
 * Rebuilds saved methods on a backbone and loads their weights: checks the backbone's architecture
 * against the manifest, gives the model a head of the saved width when its own differs, creates
 * each method from its definition (by name) and saved config, restores every tensor, sets the
 * backbone's `trainable` flags as they were saved, and attaches the methods in their saved order.
 * Returns the methods (the caller disposes them).
 */
export function applyTunedWeights(
  { manifest, tensors }: TunedWeights,
  model: VisionTransformer,
  definitions: readonly MethodDefinition[],
  source: string,
): TuningMethod[] {
  checkTunedBackbone(model.config, manifest, source);
  const known = definitions.map((definition) => definition.name);
  for (const { name } of manifest.methods) {
    if (!known.includes(name)) throw new ConfigError('definitions', known, `must include '${name}', a method saved in ${source}`);
  }
  if (model.numClasses !== manifest.numClasses) model.resetHead(manifest.numClasses);
  const methods: TuningMethod[] = [];
  try {
    for (const { name, config } of manifest.methods) methods.push(definitions.find((definition) => definition.name === name)!.create(model, config));
    restoreTunedTensors(model, methods, tensors, source);
  } catch (error) {
    methods.forEach((method) => method.dispose());
    throw error;
  }
  for (const parameter of model.parameters) parameter.variable.trainable = manifest.trainable.includes(parameter.key);
  methods.forEach((method) => model.attach(method));
  return methods;
}

/** `loadTunedWeights` for bytes (from `encodeTunedWeights`, a download, an upload): rebuilds the methods on `model` and returns them. */
export function loadTunedWeightsBytes(
  bytes: Uint8Array,
  model: VisionTransformer,
  definitions: readonly MethodDefinition[],
  source = '<bytes>',
): TuningMethod[] {
  return applyTunedWeights(decodeTunedWeights(bytes, source), model, definitions, source);
}

import { ConfigError } from './errors';
import { flag, integer, integerPair, knownOptions, oneOf, positiveNumber, rate } from './validate';

/** How the head reads the token sequence (timm's `global_pool`). */
export type GlobalPool = 'token' | 'avg';

/** Kernel used to resample the position embedding to another patch grid. */
export type PosEmbedInterpolation = 'bicubic' | 'bilinear';

/**
 * Hyperparameters of a Vision Transformer, in timm's names (camelCase). Every field has timm's
 * default; `resolveVitConfig` validates a partial config once and fills the rest.
 */
export interface VitConfig {
  /** Input size in pixels as [height, width]; a number means a square. timm `img_size`, default 224. */
  readonly imgSize: readonly [number, number];
  /** Side of the square patches. Default 16 (all the papers use ViT-B/16). */
  readonly patchSize: number;
  /** Input channels. Default 3. */
  readonly inChans: number;
  /** Classes of the head; 0 means no head (features only). Default 1000. */
  readonly numClasses: number;
  /** Token width D. ViT-B: 768. */
  readonly embedDim: number;
  /** Number of blocks L. ViT-B: 12. */
  readonly depth: number;
  /** Attention heads; must divide embedDim. ViT-B: 12. */
  readonly numHeads: number;
  /** MLP hidden width as a multiple of embedDim. Default 4. */
  readonly mlpRatio: number;
  /** Bias on the fused q/k/v projection. Default true. */
  readonly qkvBias: boolean;
  /** Prepend a learnable CLS token. Default true. */
  readonly classToken: boolean;
  /** 'token': the CLS token; 'avg': mean over every non-CLS token (prompts included). Default 'token'. */
  readonly globalPool: GlobalPool;
  /**
   * LayerNorm after pooling (`fc_norm`) instead of on every token before it (`norm`).
   * timm's default: true exactly when globalPool is 'avg'.
   */
  readonly fcNorm: boolean;
  /** LayerNorm epsilon. Default 1e-6, as in every ViT checkpoint the papers use. */
  readonly layerNormEps: number;
  /** Stochastic depth rate of the last block, linear from 0 over the blocks. Default 0 (SCT uses 0.1). */
  readonly dropPathRate: number;
  /** Kernel for resampling the position embedding to another grid. Default 'bicubic' (timm). */
  readonly posEmbedInterpolation: PosEmbedInterpolation;
}

/** What a caller may pass: any subset of the fields, `imgSize` also as one number. */
export type VitConfigInput = Partial<Omit<VitConfig, 'imgSize'>> & {
  readonly imgSize?: number | readonly [number, number];
};

/** ViT presets with patch 16 at 224x224, as in timm and the original paper (Dosovitskiy et al.). */
export const VIT_PRESETS = {
  vit_tiny_patch16_224: { embedDim: 192, depth: 12, numHeads: 3 },
  vit_small_patch16_224: { embedDim: 384, depth: 12, numHeads: 6 },
  vit_base_patch16_224: { embedDim: 768, depth: 12, numHeads: 12 },
  vit_large_patch16_224: { embedDim: 1024, depth: 24, numHeads: 16 },
} as const satisfies Record<string, VitConfigInput>;

export type VitPresetName = keyof typeof VIT_PRESETS;

export function isVitPreset(name: string): name is VitPresetName {
  return Object.hasOwn(VIT_PRESETS, name);
}

/** A preset's config with overrides (e.g. another image size or class count). */
export function vitPreset(name: string, overrides: VitConfigInput = {}): VitConfig {
  const preset = oneOf('backbone', name, Object.keys(VIT_PRESETS) as VitPresetName[]);
  return resolveVitConfig({ ...VIT_PRESETS[preset], ...overrides });
}

const VIT_CONFIG_FIELDS = [
  'imgSize', 'patchSize', 'inChans', 'numClasses', 'embedDim', 'depth', 'numHeads', 'mlpRatio', 'qkvBias',
  'classToken', 'globalPool', 'fcNorm', 'layerNormEps', 'dropPathRate', 'posEmbedInterpolation',
];

/**
 * Validates every field once and fills timm's defaults. A field left out takes its default; a
 * field set to `null` is refused (JSON's null is not "the default": leave the field out).
 */
export function resolveVitConfig(input: VitConfigInput): VitConfig {
  knownOptions('backbone', input, VIT_CONFIG_FIELDS);
  for (const [field, value] of Object.entries(input)) {
    if (value === null) throw new ConfigError(field, value, 'must not be null (leave the field out for its default)');
  }
  const imgSize = integerPair('imgSize', input.imgSize ?? 224);
  const patchSize = integer('patchSize', input.patchSize ?? 16, 1);
  if (imgSize[0] % patchSize !== 0 || imgSize[1] % patchSize !== 0) {
    throw new ConfigError('imgSize', imgSize, `must be a multiple of patchSize (${patchSize})`);
  }
  const embedDim = integer('embedDim', input.embedDim ?? 768, 1);
  const numHeads = integer('numHeads', input.numHeads ?? 12, 1);
  if (embedDim % numHeads !== 0) throw new ConfigError('numHeads', numHeads, `must divide embedDim (${embedDim})`);
  const mlpRatio: unknown = input.mlpRatio ?? 4;
  if (typeof mlpRatio !== 'number' || !(mlpRatio > 0) || !Number.isInteger(embedDim * mlpRatio)) {
    throw new ConfigError('mlpRatio', mlpRatio, `must be positive with embedDim * mlpRatio an integer (embedDim ${embedDim})`);
  }
  const globalPool = oneOf('globalPool', input.globalPool ?? 'token', ['token', 'avg'] as const);
  const classToken = flag('classToken', input.classToken ?? true);
  if (globalPool === 'token' && !classToken) {
    throw new ConfigError('globalPool', globalPool, "must be 'avg' when classToken is false");
  }
  const config: VitConfig = {
    imgSize,
    patchSize,
    inChans: integer('inChans', input.inChans ?? 3, 1),
    numClasses: integer('numClasses', input.numClasses ?? 1000, 0),
    embedDim,
    depth: integer('depth', input.depth ?? 12, 1),
    numHeads,
    mlpRatio,
    qkvBias: flag('qkvBias', input.qkvBias ?? true),
    classToken,
    globalPool,
    fcNorm: flag('fcNorm', input.fcNorm ?? globalPool === 'avg'),
    layerNormEps: positiveNumber('layerNormEps', input.layerNormEps ?? 1e-6),
    dropPathRate: rate('dropPathRate', input.dropPathRate ?? 0),
    posEmbedInterpolation: oneOf('posEmbedInterpolation', input.posEmbedInterpolation ?? 'bicubic', ['bicubic', 'bilinear'] as const),
  };
  const count = vitParameterCount(config);
  if (count > MAX_VIT_PARAMETERS) {
    throw new ConfigError(
      'backbone',
      count,
      `must have at most ${MAX_VIT_PARAMETERS} parameters (2^30 float32 values, 4 GiB; embedDim ${embedDim}, depth ${config.depth}, mlpRatio ${mlpRatio}, numClasses ${config.numClasses})`,
    );
  }
  return config;
}

/**
 * The most parameters a backbone (and, separately, a method's variables) may have: 2^30, about
 * ViT-g's 1.0 billion. Larger ones cannot be built in a JavaScript process (a tensor's typed array
 * or the heap runs out, "Invalid typed array length"); refusing them from the config alone keeps
 * `params` and every other command from allocating anything first.
 */
export const MAX_VIT_PARAMETERS = 2 ** 30;

/**
 * Every weight's timm name and shape, in timm's order, from the config alone (no tensor is
 * built): what `new VisionTransformer(config).parameters` holds.
 */
export function vitParameterShapes(config: VitConfig): Map<string, number[]> {
  const { embedDim: dim, patchSize, inChans, depth } = config;
  const [rows, columns] = patchGrid(config);
  const shapes = new Map<string, number[]>();
  if (config.classToken) shapes.set('cls_token', [1, 1, dim]);
  shapes.set('pos_embed', [1, numPrefixTokens(config) + rows * columns, dim]);
  shapes.set('patch_embed.proj.weight', [dim, inChans, patchSize, patchSize]);
  shapes.set('patch_embed.proj.bias', [dim]);
  const hidden = dim * config.mlpRatio;
  for (let index = 0; index < depth; index += 1) {
    const prefix = `blocks.${index}`;
    shapes.set(`${prefix}.norm1.weight`, [dim]);
    shapes.set(`${prefix}.norm1.bias`, [dim]);
    shapes.set(`${prefix}.attn.qkv.weight`, [3 * dim, dim]);
    if (config.qkvBias) shapes.set(`${prefix}.attn.qkv.bias`, [3 * dim]);
    shapes.set(`${prefix}.attn.proj.weight`, [dim, dim]);
    shapes.set(`${prefix}.attn.proj.bias`, [dim]);
    shapes.set(`${prefix}.norm2.weight`, [dim]);
    shapes.set(`${prefix}.norm2.bias`, [dim]);
    shapes.set(`${prefix}.mlp.fc1.weight`, [hidden, dim]);
    shapes.set(`${prefix}.mlp.fc1.bias`, [hidden]);
    shapes.set(`${prefix}.mlp.fc2.weight`, [dim, hidden]);
    shapes.set(`${prefix}.mlp.fc2.bias`, [dim]);
  }
  const norm = config.fcNorm ? 'fc_norm' : 'norm';
  shapes.set(`${norm}.weight`, [dim]);
  shapes.set(`${norm}.bias`, [dim]);
  if (config.numClasses > 0) {
    shapes.set('head.weight', [config.numClasses, dim]);
    shapes.set('head.bias', [config.numClasses]);
  }
  return shapes;
}

/**
 * The backbone's parameter count from its config alone, in closed form (the sum of
 * `vitParameterShapes`, without listing a depth of a million blocks first).
 */
export function vitParameterCount(config: VitConfig): number {
  const { embedDim: dim, patchSize, inChans, depth, numClasses } = config;
  const [rows, columns] = patchGrid(config);
  const hidden = dim * config.mlpRatio;
  const block = 4 * dim + 3 * dim * dim + (config.qkvBias ? 3 * dim : 0) + dim * dim + dim + 2 * hidden * dim + hidden + dim;
  return (
    (config.classToken ? dim : 0) +
    (numPrefixTokens(config) + rows * columns) * dim +
    dim * inChans * patchSize * patchSize +
    dim +
    depth * block +
    2 * dim +
    (numClasses > 0 ? numClasses * dim + numClasses : 0)
  );
}

/** Patch grid [rows, columns] of a config. */
export function patchGrid(config: Pick<VitConfig, 'imgSize' | 'patchSize'>): [number, number] {
  return [config.imgSize[0] / config.patchSize, config.imgSize[1] / config.patchSize];
}

/** Tokens before the patches that carry a position embedding: the CLS token, if any. */
export function numPrefixTokens(config: Pick<VitConfig, 'classToken'>): number {
  return config.classToken ? 1 : 0;
}

import * as tf from '@tensorflow/tfjs-core';
import type { DeclaredVariable, LayerNorm, Linear, LinearSite, NormSite, Parameter, SiteContext, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, MethodBase, ShapeError, integer, knownOptions, numberInRange, tfjsSeed, vitParameterShapes } from '@visual-peft/vit-core';
import type { WeightFold } from './merge-state';
import { assignFold, beginMerge, refuseIfMerged, setMerged } from './merge-state';

export type SsfConfigInput = {
  readonly initStd?: number;
  readonly seed?: number;
};

/**
 * SSF (Lian et al., NeurIPS 2022): a learnable per-channel scale and shift, y -> y * gamma + beta,
 * after each operation that the released ViT code wraps with `ssf_ada`: the patch projection, and
 * in every block norm1, qkv, the attention projection, norm2, fc1 and fc2, and the final norm.
 */
export class SsfConfig {
  /**
   * Standard deviation of the normal draws around 1 (scales) and 0 (shifts). Default 0.02, as the
   * code's `init_ssf_scale_shift` (the paper describes scale 1 and shift 0). 0 starts exactly at the
   * pretrained function.
   */
  readonly initStd: number;
  /** Seed of the initial draw. Default 0. */
  readonly seed: number;

  constructor(input: SsfConfigInput = {}) {
    const options = knownOptions('ssf', input, ['initStd', 'seed']);
    this.initStd = numberInRange('initStd', options.initStd ?? 0.02, { min: 0 });
    this.seed = integer('seed', options.seed ?? 0);
  }

  toJSON(): Required<SsfConfigInput> {
    return { initStd: this.initStd, seed: this.seed };
  }
}

/** A layer SSF follows, by its timm key, with the scale and shift applied to its output. */
export interface SsfTarget {
  /** e.g. `patch_embed.proj`, `blocks.3.attn.qkv`, `blocks.3.norm2`, `norm`. */
  readonly key: string;
  readonly kind: 'linear' | 'norm';
  readonly scale: tf.Variable;
  readonly shift: tf.Variable;
}

interface FoldableLayer {
  readonly key: string;
  readonly kind: 'linear' | 'norm';
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /** Output channels: what the scale and shift multiply and add to. */
  readonly channels: number;
}

/**
 * The layers SSF follows, in forward order. The final one is whichever final LayerNorm the model
 * has: `norm` on every token (SSF's code), or `fc_norm` after pooling where the model pools by
 * averaging (the code scales the unnormalised tokens there; after fc_norm the step stays foldable).
 */
function ssfLayers(model: VisionTransformer): FoldableLayer[] {
  // Linear weights are stored [in, out], LayerNorm gains [channels]: the output width is the last axis.
  const layer = (kind: FoldableLayer['kind'], { key, weight, bias }: Linear | LayerNorm): FoldableLayer => ({
    key,
    kind,
    weight,
    bias,
    channels: weight.variable.shape[weight.variable.rank - 1]!,
  });
  const linear = (module: Linear) => layer('linear', module);
  const norm = (module: LayerNorm) => layer('norm', module);
  const finalNorm = model.norm ?? model.fcNorm;
  return [
    linear(model.patchEmbed),
    ...model.blocks.flatMap((block) => [norm(block.norm1), linear(block.qkv), linear(block.proj), norm(block.norm2), linear(block.fc1), linear(block.fc2)]),
    ...(finalNorm === null ? [] : [norm(finalNorm)]),
  ];
}

/** SSF's scales and shifts. Build it with `createSsf`; fold it into the weights with `mergeSsf`. */
export class SsfMethod extends MethodBase<Required<SsfConfigInput>> {
  readonly name = 'ssf';
  readonly targets: readonly SsfTarget[];
  private readonly byKey: ReadonlyMap<string, SsfTarget>;

  constructor(model: VisionTransformer, config: SsfConfig) {
    super(config.toJSON());
    this.targets = ssfLayers(model).map(({ key, kind, channels }) => ({
      key,
      kind,
      scale: this.addVariable(`${key}.ssf_scale`, (seed) => tf.randomNormal([channels], 1, config.initStd, 'float32', tfjsSeed(seed))),
      shift: this.addVariable(`${key}.ssf_shift`, (seed) => tf.randomNormal([channels], 0, config.initStd, 'float32', tfjsSeed(seed))),
    }));
    this.byKey = new Map(this.targets.map((target) => [target.key, target]));
  }

  linearOutput(site: LinearSite, _input: tf.Tensor2D, output: tf.Tensor2D, context: SiteContext): tf.Tensor2D {
    return this.scaleShift(site, output, context);
  }

  normOutput(site: NormSite, output: tf.Tensor, context: SiteContext): tf.Tensor {
    return this.scaleShift(site, output, context);
  }

  /** y * gamma + beta over the last axis, where the site is one SSF follows (not the head). */
  private scaleShift<T extends tf.Tensor>(site: string, output: T, context: SiteContext): T {
    const target = this.byKey.get(context.blockIndex === null ? site : `blocks.${context.blockIndex}.${site}`);
    if (target === undefined) return output;
    refuseIfMerged(this);
    return tf.tidy(() => tf.add(tf.mul(output, target.scale), target.shift));
  }
}

/** SSF for `model` (not attached). */
export function createSsf(model: VisionTransformer, config: SsfConfig | SsfConfigInput = {}): SsfMethod {
  return new SsfMethod(model, config instanceof SsfConfig ? config : new SsfConfig(config));
}

/** The weights whose layers SSF follows (those of `ssfLayers`), by timm key: their output channels are the first axis of timm's shape. */
const SSF_FOLLOWS = /^(patch_embed\.proj|blocks\.\d+\.(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)|norm|fc_norm)\.weight$/;

/** The variables `createSsf` builds on a backbone of `backbone`, without building them: a scale and a shift per output channel of every layer SSF follows. */
export function ssfShapes(backbone: VitConfig, config: SsfConfig | SsfConfigInput = {}): Map<string, DeclaredVariable> {
  // The options are checked as `createSsf` checks them; none of them changes a shape.
  if (!(config instanceof SsfConfig)) void new SsfConfig(config);
  const shapes = new Map<string, DeclaredVariable>();
  for (const [key, shape] of vitParameterShapes(backbone)) {
    if (!SSF_FOLLOWS.test(key)) continue;
    const layer = key.slice(0, -'.weight'.length);
    shapes.set(`${layer}.ssf_scale`, { shape: [shape[0]!] });
    shapes.set(`${layer}.ssf_shift`, { shape: [shape[0]!] });
  }
  return shapes;
}

/**
 * Folds every scale and shift into the layer before it, for inference: a linear layer's
 * (x W + b) * s + t becomes x (W * s) + (b * s + t), a LayerNorm's gain and bias likewise. The
 * method is detached and the model alone computes what it computed with SSF attached, to float
 * rounding. One-way: unfolding would divide by the scales, so keep the method's weights (or the
 * backbone's) to go back. Checks everything before writing anything.
 */
export function mergeSsf(model: VisionTransformer, ssf: SsfMethod): void {
  const fold = ssfFold(model, ssf);
  beginMerge(model, ssf);
  assignFold(model, fold);
  setMerged(ssf, model);
}

/**
 * SSF's fold, checked against the model before anything is written: W * s and b * s + t for each
 * layer it follows (a linear layer's weight is [in, out], so s scales its output columns).
 */
export function ssfFold(model: VisionTransformer, ssf: SsfMethod): WeightFold {
  const layers = new Map(ssfLayers(model).map((layer) => [layer.key, layer]));
  for (const target of ssf.targets) {
    const layer = layers.get(target.key);
    if (layer === undefined || layer.channels !== target.scale.shape[0]) {
      throw new ShapeError(`ssf: ${target.key} has no matching layer of ${target.scale.shape[0]} channels in this model`);
    }
    if (layer.bias === null) {
      throw new ConfigError('qkvBias', model.config.qkvBias, `must be true to merge SSF: the shift after ${layer.key} folds into its bias`);
    }
  }
  const fold = new Map<string, (current: tf.Tensor) => tf.Tensor>();
  for (const { key, scale, shift } of ssf.targets) {
    const { weight, bias } = layers.get(key)!;
    fold.set(weight.key, (current) => tf.mul(current, scale));
    fold.set(bias!.key, (current) => tf.add(tf.mul(current, scale), shift));
  }
  return fold;
}

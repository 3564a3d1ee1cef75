import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, BranchSite, BranchTensors, DeclaredVariable, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, MethodBase, gelu, integer, knownOptions, numberInRange } from '@visual-peft/vit-core';
import type { Bottleneck } from './bottleneck';
import { applyBottleneck, bottleneckShapes, createBottleneck } from './bottleneck';
import { timmTruncNormal } from './initializers';

export type AdapterConfigInput = {
  readonly bottleneck?: number;
  readonly initStd?: number;
  readonly seed?: number;
};

/**
 * The Houlsby adapter (Houlsby et al. 2019) as the SCT and VQT papers run it as a baseline: in
 * every block the MLP branch's output h becomes h + up(GELU(down(h))) before it joins the stream.
 */
export class AdapterConfig {
  /** Width of the bottleneck. Default 8: the papers' "Adapter-8" (0.16M parameters on ViT-B). */
  readonly bottleneck: number;
  /**
   * Standard deviation of the normal draw of both projections' weights (biases start at zero).
   * Default 0.02. The SCT code builds its adapter with both projections zeroed, but timm's model
   * init then re-draws every Linear at std 0.02 with zero bias, and the checkpoint holds no adapter
   * weights (NOAH's adapter gets the same re-draw): std 0.02 is what those runs trained from.
   * Zero is refused: with both projections at zero no gradient reaches either weight
   * (d/dW_up = GELU(0) = 0, d/dW_down passes through W_up = 0) and only the up bias would train.
   */
  readonly initStd: number;
  /** Seed of the initial draw. Default 0. */
  readonly seed: number;

  constructor(input: AdapterConfigInput = {}) {
    const options = knownOptions('adapter', input, ['bottleneck', 'initStd', 'seed']);
    this.bottleneck = integer('bottleneck', options.bottleneck ?? 8, 1);
    this.initStd = numberInRange('initStd', options.initStd ?? 0.02, { min: 0 });
    if (this.initStd === 0) throw new ConfigError('initStd', 0, 'must not be 0: with both projections at zero no gradient reaches their weights');
    this.seed = integer('seed', options.seed ?? 0);
  }

  toJSON(): Required<AdapterConfigInput> {
    return { bottleneck: this.bottleneck, initStd: this.initStd, seed: this.seed };
  }
}

/** Houlsby adapters in every block's MLP residual branch. Build it with `createAdapter`. */
export class AdapterMethod extends MethodBase<Required<AdapterConfigInput>> {
  readonly name = 'adapter';
  private readonly dim: number;
  private readonly adapters: readonly Bottleneck[];

  constructor(model: VisionTransformer, config: AdapterConfig) {
    super(config.toJSON());
    this.dim = model.config.embedDim;
    const init = (shape: readonly number[], seed: number) => timmTruncNormal(shape, config.initStd, seed);
    this.adapters = model.blocks.map((block) =>
      createBottleneck((name, initial) => this.addVariable(name, initial), `blocks.${block.index}.adapter`, this.dim, config.bottleneck, {
        down: init,
        up: init,
      }),
    );
  }

  /** The MLP branch's output h -> h + up(GELU(down(h))), before drop path and the residual add. */
  branchOutput(site: BranchSite, { output }: BranchTensors, context: BlockContext): tf.Tensor3D {
    if (site !== 'mlp') return output;
    return tf.tidy(() => {
      const rows = tf.reshape(output, [-1, this.dim]) as tf.Tensor2D;
      const update = applyBottleneck(rows, this.adapters[context.blockIndex]!, gelu);
      return tf.add(output, tf.reshape(update, output.shape));
    });
  }
}

/** Houlsby adapters for `model` (not attached): `model.attach(createAdapter(model, { bottleneck: 8 }))`. */
export function createAdapter(model: VisionTransformer, config: AdapterConfig | AdapterConfigInput = {}): AdapterMethod {
  return new AdapterMethod(model, config instanceof AdapterConfig ? config : new AdapterConfig(config));
}

/** The variables `createAdapter` builds on a backbone of `backbone`, without building them: one bottleneck per block. */
export function adapterShapes(backbone: VitConfig, config: AdapterConfig | AdapterConfigInput = {}): Map<string, DeclaredVariable> {
  const { bottleneck } = config instanceof AdapterConfig ? config : new AdapterConfig(config);
  return new Map(Array.from({ length: backbone.depth }, (_, block) => bottleneckShapes(`blocks.${block}.adapter`, backbone.embedDim, bottleneck)).flat());
}

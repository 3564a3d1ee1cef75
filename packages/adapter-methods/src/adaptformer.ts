import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, BranchSite, BranchTensors, DeclaredVariable, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { MethodBase, integer, knownOptions, layerNorm, oneOf, perImageDropout, positiveNumber, rate } from '@visual-peft/vit-core';
import type { Bottleneck } from './bottleneck';
import { applyBottleneck, bottleneckShapes, createBottleneck } from './bottleneck';
import { kaimingUniform } from './initializers';

/** Where AdaptFormer's optional LayerNorm sits: nowhere, on the branch input, or on its scaled output. */
export type AdaptFormerLayerNorm = 'none' | 'in' | 'out';

export const ADAPTFORMER_LAYER_NORMS: readonly AdaptFormerLayerNorm[] = ['none', 'in', 'out'];

export type AdaptFormerConfigInput = {
  readonly bottleneck?: number;
  readonly scale?: number;
  readonly dropout?: number;
  readonly layerNorm?: AdaptFormerLayerNorm;
  readonly seed?: number;
};

/** torch.nn.LayerNorm's default epsilon, which AdaptFormer's adapter norm keeps. */
const ADAPTER_NORM_EPS = 1e-5;


/**
 * AdaptFormer (Chen et al., NeurIPS 2022): beside every block's MLP a parallel branch reads the
 * same input stream (before norm2) and adds `scale * up(dropout(ReLU(down(x))))` to the MLP's
 * output. The defaults are those of the authors' image-classification code (`main_image.py`).
 */
export class AdaptFormerConfig {
  /** Width of the bottleneck. Default 64 (the code's `ffn_num` and the paper's ViT-B setting). */
  readonly bottleneck: number;
  /** Fixed multiplier of the branch. Default 0.1 (the code's `ffn_adapter_scalar`). */
  readonly scale: number;
  /** Dropout after the ReLU, in training passes only. Default 0.1 (the code's adapter dropout). */
  readonly dropout: number;
  /**
   * LayerNorm of the branch: 'none', 'in' (on the input) or 'out' (on the scaled output), with
   * torch's eps 1e-5. Default 'none': `main_image.py` sets `ffn_adapter_layernorm_option="none"`
   * (the Adapter class's own default, 'in', is overridden there). The paper's figure draws one.
   */
  readonly layerNorm: AdaptFormerLayerNorm;
  /** Seed of the initial draw. Default 0. */
  readonly seed: number;

  constructor(input: AdaptFormerConfigInput = {}) {
    const options = knownOptions('adaptformer', input, ['bottleneck', 'scale', 'dropout', 'layerNorm', 'seed']);
    this.bottleneck = integer('bottleneck', options.bottleneck ?? 64, 1);
    this.scale = positiveNumber('scale', options.scale ?? 0.1);
    this.dropout = rate('dropout', options.dropout ?? 0.1);
    this.layerNorm = oneOf('layerNorm', options.layerNorm ?? 'none', ADAPTFORMER_LAYER_NORMS);
    this.seed = integer('seed', options.seed ?? 0);
  }

  toJSON(): Required<AdaptFormerConfigInput> {
    return { bottleneck: this.bottleneck, scale: this.scale, dropout: this.dropout, layerNorm: this.layerNorm, seed: this.seed };
  }
}

interface AdaptFormerBranch {
  readonly projections: Bottleneck;
  readonly norm: { readonly weight: tf.Variable; readonly bias: tf.Variable } | null;
}

/** AdaptFormer's parallel branches. Build it with `createAdaptFormer`. */
export class AdaptFormerMethod extends MethodBase<Required<AdaptFormerConfigInput>> {
  readonly name = 'adaptformer';
  private readonly dim: number;
  private readonly branches: readonly AdaptFormerBranch[];

  constructor(model: VisionTransformer, config: AdaptFormerConfig) {
    super(config.toJSON());
    const dim = model.config.embedDim;
    this.dim = dim;
    this.branches = model.blocks.map((block) => {
      const prefix = `blocks.${block.index}.adaptformer`;
      // The code's "lora" init: down kaiming-uniform, up and both biases zero, so the branch starts at 0.
      const projections = createBottleneck((name, initial) => this.addVariable(name, initial), prefix, dim, config.bottleneck, {
        down: (shape, seed) => kaimingUniform(shape, dim, seed),
        up: (shape) => tf.zeros([...shape]),
      });
      const norm =
        config.layerNorm === 'none'
          ? null
          : { weight: this.addVariable(`${prefix}.norm.weight`, () => tf.ones([dim])), bias: this.addVariable(`${prefix}.norm.bias`, () => tf.zeros([dim])) };
      return { projections, norm };
    });
  }

  /** Adds the branch computed from the MLP's input stream to the MLP's output. */
  branchOutput(site: BranchSite, { input, output }: BranchTensors, context: BlockContext): tf.Tensor3D {
    if (site !== 'mlp') return output;
    const { projections, norm } = this.branches[context.blockIndex]!;
    const { layerNorm: normAt, scale, dropout } = this.config;
    return tf.tidy(() => {
      let rows = tf.reshape(input, [-1, this.dim]) as tf.Tensor2D;
      if (normAt === 'in') rows = layerNorm(rows, norm!.weight as tf.Tensor1D, norm!.bias as tf.Tensor1D, ADAPTER_NORM_EPS);
      const activate = (hidden: tf.Tensor2D): tf.Tensor2D => {
        const active = tf.relu(hidden);
        if (!context.training || dropout === 0) return active;
        // Rows are [B * T, r]: one row of draws per image, keyed by its place in the step's batch.
        const perImage = tf.reshape(active, [input.shape[0], -1]);
        return tf.reshape(perImageDropout(perImage, dropout, context, [this.site('dropout'), context.blockIndex]), active.shape);
      };
      let update = tf.mul(applyBottleneck(rows, projections, activate), scale) as tf.Tensor2D;
      if (normAt === 'out') update = layerNorm(update, norm!.weight as tf.Tensor1D, norm!.bias as tf.Tensor1D, ADAPTER_NORM_EPS);
      return tf.add(output, tf.reshape(update, output.shape));
    });
  }
}

/** AdaptFormer branches for `model` (not attached). */
export function createAdaptFormer(model: VisionTransformer, config: AdaptFormerConfig | AdaptFormerConfigInput = {}): AdaptFormerMethod {
  return new AdaptFormerMethod(model, config instanceof AdaptFormerConfig ? config : new AdaptFormerConfig(config));
}

/** The variables `createAdaptFormer` builds on a backbone of `backbone`, without building them: a bottleneck per block, and its LayerNorm unless `layerNorm` is 'none'. */
export function adaptFormerShapes(backbone: VitConfig, config: AdaptFormerConfig | AdaptFormerConfigInput = {}): Map<string, DeclaredVariable> {
  const { bottleneck, layerNorm: normAt } = config instanceof AdaptFormerConfig ? config : new AdaptFormerConfig(config);
  const dim = backbone.embedDim;
  return new Map(
    Array.from({ length: backbone.depth }, (_, block): [string, DeclaredVariable][] => {
      const prefix = `blocks.${block}.adaptformer`;
      const norm: [string, DeclaredVariable][] = normAt === 'none' ? [] : [[`${prefix}.norm.weight`, { shape: [dim] }], [`${prefix}.norm.bias`, { shape: [dim] }]];
      return [...bottleneckShapes(prefix, dim, bottleneck), ...norm];
    }).flat(),
  );
}

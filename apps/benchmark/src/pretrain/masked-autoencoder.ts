import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, Parameter } from '@visual-peft/vit-core';
import { ConfigError, ShapeError, VisionTransformer, createParameter, layerNorm, linear, patchGrid } from '@visual-peft/vit-core';
import type { ClassifiedParameter } from '@visual-peft/training';
import { maeLoss, patchify } from './mae-loss';
import type { RandomMasking } from './random-masking';
import { sincosPosEmbed } from './sincos-pos-embed';

/** The MAE decoder: its own width, blocks and heads (He et al. 2022 use 512 wide, 8 deep for ViT-L). */
export interface MaeDecoderConfig {
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
}

export interface MaeConfig {
  /** Fraction of the patches hidden from the encoder. Paper: 0.75. */
  readonly maskRatio: number;
  /** Normalise each target patch by its own mean and variance. Paper: true (better features). */
  readonly normPixLoss: boolean;
  readonly decoder: MaeDecoderConfig;
}

export interface MaeStepOptions {
  readonly training: boolean;
  /** Seed of the pass's random ops (drop path), if any. */
  readonly seed?: number;
}

/**
 * A masked autoencoder (He et al. 2022) around one of our ViTs. The encoder is the ViT itself
 * (timm's weights, so the result loads as any backbone) and sees only the visible patches plus CLS;
 * the decoder is a second, narrower stack of vit-core blocks with learned mask tokens and its own
 * fixed sine-cosine position embedding, predicting every patch's pixels. The encoder's position
 * embedding is set to the fixed sine-cosine one and frozen, as in the paper.
 */
export class MaskedAutoencoder {
  readonly numPatches: number;
  readonly patchDim: number;
  readonly decoderEmbed: { weight: Parameter; bias: Parameter };
  readonly maskToken: Parameter;
  readonly decoderPred: { weight: Parameter; bias: Parameter };
  /** Holds the decoder's blocks and final norm (its patch embedding, CLS and position embedding go unused). */
  private readonly decoder: VisionTransformer;
  private readonly decoderPosEmbed: tf.Tensor3D;
  private disposed = false;

  constructor(
    readonly encoder: VisionTransformer,
    readonly config: MaeConfig,
    seed = 0,
  ) {
    const { imgSize, patchSize, inChans, embedDim, classToken, fcNorm } = encoder.config;
    if (!classToken || fcNorm) throw new ConfigError('backbone', encoder.config, 'must have a CLS token and a final norm (globalPool token) for MAE pretraining');
    if (!(config.maskRatio > 0 && config.maskRatio < 1)) throw new ConfigError('maskRatio', config.maskRatio, 'must be in (0, 1)');
    const [rows, columns] = patchGrid(encoder.config);
    this.numPatches = rows * columns;
    this.patchDim = inChans * patchSize * patchSize;
    const decoderDim = config.decoder.embedDim;
    this.decoder = new VisionTransformer(
      { imgSize, patchSize, inChans, embedDim: decoderDim, depth: config.decoder.depth, numHeads: config.decoder.numHeads, numClasses: 0 },
      { seed: seed + 10_000 },
    );
    tf.tidy(() => {
      encoder.posEmbed.variable.assign(tf.tensor3d(sincosPosEmbed(embedDim, rows, columns, 1), [1, 1 + this.numPatches, embedDim]));
    });
    this.decoderPosEmbed = tf.tensor3d(sincosPosEmbed(decoderDim, rows, columns, 1), [1, 1 + this.numPatches, decoderDim]);
    const dense = (key: string, inFeatures: number, outFeatures: number, layerSeed: number) => ({
      weight: createParameter(`${key}.weight`, [outFeatures, inFeatures], 'linear', { kind: 'trunc-normal', std: 0.02 }, layerSeed, true),
      bias: createParameter(`${key}.bias`, [outFeatures], 'identity', { kind: 'zeros' }, layerSeed + 1, true),
    });
    this.decoderEmbed = dense('decoder_embed', embedDim, decoderDim, seed + 20_000);
    this.maskToken = createParameter('mask_token', [1, 1, decoderDim], 'identity', { kind: 'normal', std: 0.02 }, seed + 20_002, true);
    this.decoderPred = dense('decoder_pred', decoderDim, this.patchDim, seed + 20_004);
  }

  /**
   * Every weight pretraining updates, under MAE's names (the encoder's under timm's), each marked
   * for weight decay as timm's ViT does: none for biases, norms, CLS and mask tokens. The two
   * position embeddings are fixed.
   */
  get parameters(): ClassifiedParameter[] {
    const decoderWeights = this.decoder.parameters
      .filter((parameter) => parameter.key.startsWith('blocks.') || parameter.key.startsWith('norm.'))
      .map((parameter) => ({ ...parameter, key: `decoder_${parameter.key}` }));
    const all = [
      ...this.encoder.parameters.filter((parameter) => parameter.key !== 'pos_embed'),
      this.decoderEmbed.weight,
      this.decoderEmbed.bias,
      this.maskToken,
      ...decoderWeights,
      this.decoderPred.weight,
      this.decoderPred.bias,
    ];
    return all.map((parameter) => ({
      key: parameter.key,
      variable: parameter.variable,
      head: false,
      vector: parameter.timmShape.length <= 1 || parameter.key.endsWith('.bias') || parameter.key === 'cls_token' || parameter.key === 'mask_token',
    }));
  }

  /** Sets the `trainable` flag of every weight pretraining updates (and clears the fixed position embedding's). */
  setTrainable(): void {
    this.encoder.posEmbed.variable.trainable = false;
    for (const parameter of this.parameters) parameter.variable.trainable = true;
  }

  /** The mean squared error of the reconstruction on the masked patches: the training loss. */
  loss(images: tf.Tensor4D, masking: RandomMasking, options: MaeStepOptions): tf.Scalar {
    return tf.tidy(() => {
      const mask = tf.tensor2d(masking.mask, [masking.batch, masking.numPatches]);
      return maeLoss(this.reconstruct(images, masking, options), patchify(images, this.encoder.config.patchSize), mask, this.config.normPixLoss);
    });
  }

  /** Predicted pixels of every patch, [B, N, C*p*p] (in `patchify`'s order; normalised per patch with normPixLoss). */
  reconstruct(images: tf.Tensor4D, masking: RandomMasking, options: MaeStepOptions): tf.Tensor3D {
    if (this.disposed) throw new ConfigError('MaskedAutoencoder', 'disposed', 'must not be used after dispose()');
    const batch = images.shape[0];
    if (masking.batch !== batch || masking.numPatches !== this.numPatches) {
      throw new ShapeError(`masking for ${masking.batch} images of ${masking.numPatches} patches does not fit ${batch} images of ${this.numPatches} patches`);
    }
    return tf.tidy(() => this.decode(this.encode(images, masking, options), masking, options));
  }

  /** Frees the decoder's weights (the encoder belongs to the caller). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.decoder.dispose();
    this.decoderPosEmbed.dispose();
    for (const parameter of [this.decoderEmbed.weight, this.decoderEmbed.bias, this.maskToken, this.decoderPred.weight, this.decoderPred.bias]) {
      parameter.variable.dispose();
    }
  }

  /** [CLS, visible patches] through the encoder: [B, 1 + keepCount, D]. */
  private encode(images: tf.Tensor4D, masking: RandomMasking, options: MaeStepOptions): tf.Tensor3D {
    const { encoder } = this;
    const { embedDim } = encoder.config;
    const batch = images.shape[0];
    const position = encoder.posEmbed.variable as tf.Tensor3D;
    const patches = tf.add(encoder.embedPatches(images, options), tf.slice(position, [0, 1, 0], [1, -1, -1])) as tf.Tensor3D;
    const visible = gatherPerSample(patches, masking.keep, masking.keepCount);
    const cls = tf.add(encoder.clsToken!.variable, tf.slice(position, [0, 0, 0], [1, 1, -1]));
    let tokens = tf.concat([tf.broadcastTo(cls, [batch, 1, embedDim]) as tf.Tensor3D, visible], 1);
    tokens = runBlocks(encoder, tokens, options);
    const norm = encoder.norm!;
    return layerNorm(tokens, norm.weight.variable as tf.Tensor1D, norm.bias.variable as tf.Tensor1D, norm.eps);
  }

  /** Encoded tokens -> mask tokens filled in, patch order restored, decoder blocks, pixels of the N patches. */
  private decode(encoded: tf.Tensor3D, masking: RandomMasking, options: MaeStepOptions): tf.Tensor3D {
    const [batch, tokens] = encoded.shape;
    const decoderDim = this.config.decoder.embedDim;
    const embedded = dense(encoded, this.decoderEmbed);
    const cls = tf.slice(embedded, [0, 0, 0], [-1, 1, -1]);
    const hidden = this.numPatches - (tokens - 1);
    const shuffled = tf.concat(
      [tf.slice(embedded, [0, 1, 0], [-1, -1, -1]), tf.broadcastTo(this.maskToken.variable, [batch, hidden, decoderDim]) as tf.Tensor3D],
      1,
    );
    const restored = gatherPerSample(shuffled, masking.restore, this.numPatches);
    let sequence = tf.add(tf.concat([cls, restored], 1), this.decoderPosEmbed) as tf.Tensor3D;
    sequence = runBlocks(this.decoder, sequence, options);
    const norm = this.decoder.norm!;
    sequence = layerNorm(sequence, norm.weight.variable as tf.Tensor1D, norm.bias.variable as tf.Tensor1D, norm.eps);
    return tf.slice(dense(sequence, this.decoderPred), [0, 1, 0], [-1, -1, -1]);
  }
}

/** x [B, T, D] -> [B, count, D] taking, for sample b, the tokens `indices[b * count + i]`. */
function gatherPerSample(x: tf.Tensor3D, indices: Int32Array, count: number): tf.Tensor3D {
  const [batch, tokens] = x.shape;
  const selection = new Float32Array(batch * count * tokens);
  for (let sample = 0; sample < batch; sample++) {
    for (let i = 0; i < count; i++) selection[(sample * count + i) * tokens + indices[sample * count + i]!] = 1;
  }
  // A product with a one-hot selection [B, count, T] rather than a gather: its gradient is another
  // product, where a gather's needs UnsortedSegmentSum, which the wasm backend lacks.
  return tf.matMul(tf.tensor3d(selection, [batch, count, tokens]), x);
}

function dense(x: tf.Tensor3D, layer: { weight: Parameter; bias: Parameter }): tf.Tensor3D {
  const [batch, tokens, dim] = x.shape;
  const out = linear(tf.reshape(x, [batch * tokens, dim]), layer.weight.variable as tf.Tensor2D, layer.bias.variable as tf.Tensor1D);
  return tf.reshape(out, [batch, tokens, out.shape[1]]);
}

function runBlocks(model: VisionTransformer, tokens: tf.Tensor3D, options: MaeStepOptions): tf.Tensor3D {
  let x = tokens;
  for (const block of model.blocks) {
    const context: BlockContext = { training: options.training, seed: options.seed, imageOffset: 0, recompute: false, state: new Map(), blockIndex: block.index, depth: model.config.depth };
    x = block.forward(x, context);
  }
  return x;
}

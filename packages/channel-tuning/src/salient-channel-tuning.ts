import * as tf from '@tensorflow/tfjs-core';
import type {
  BatchSource,
  BlockContext,
  BranchSite,
  ChannelDiagnostic,
  DiagnosticProbe,
  MethodDefinition,
  SavedState,
  TuningMethod,
  VisionTransformer,
} from '@visual-peft/vit-core';
import { ConfigError, MethodBase, SeededRandom, ShapeError, VisualPeftError } from '@visual-peft/vit-core';
import { computeChannelImportance, selectChannels } from './channel-importance';
import type { SalientChannelConfig, SalientChannelConfigInput, TuningPosition } from './config';
import { resolveSalientChannelConfig, tunedPositions } from './config';

/** The method ran before its channels were chosen (by `prepare` on training data, or `loadWeights`). */
export class ChannelsNotSelectedError extends VisualPeftError {}

/** The chosen channels of each block, per position, ascending. */
export type ChannelSelectionMap = Partial<Record<TuningPosition, readonly Int32Array[]>>;

/** One block's module at one position: SCTM, a K x K linear map on the selected channels. */
interface ChannelModule {
  readonly weight: tf.Variable; // [K, K] stored [in, out]
  readonly bias: tf.Variable; // [K]
  channels: Int32Array | null;
  /** [D, K]: picks the selected channels as one plain product (no gather, whose gradient wasm lacks). */
  select: tf.Tensor2D | null;
  /** [K, D]: puts the K outputs back in place; every other column is exactly zero. */
  place: tf.Tensor2D | null;
}

export interface SalientChannelTuning extends TuningMethod {
  readonly config: SalientChannelConfig & Readonly<Record<string, unknown>>;
  /** The selected channels per position and block (null before selection). */
  selectedChannels(): Partial<Record<TuningPosition, (Int32Array | null)[]>>;
  /**
   * Chooses the channels: CAIS over `source` for 'salient'/'insalient' (on the model without this
   * method, attached or not), nothing for 'random' (drawn at construction).
   */
  prepare(source: BatchSource): Promise<void>;
  /**
   * A `salient-channels` record: the channels chosen per block at the first tuned position and
   * every channel's CAIS score there (those `prepare` computed, else computed once from
   * `probe.source`; null when neither is possible).
   */
  diagnostics(probe: DiagnosticProbe): Promise<ChannelDiagnostic[]>;
}

type SctConfig = SalientChannelConfig & Readonly<Record<string, unknown>>;

/**
 * SCT: per block and position, `x[..., idx] += scale * (W x[..., idx] + b)` on all tokens (CLS
 * included), every other channel untouched. Weights: truncated normal (std 0.02), bias zero. Saved
 * as `blocks.{b}.{position}.weight` [K, K] (PyTorch's Linear layout [out, in]), `.bias` and
 * `.channels` (int32), so a tuned model reloads without recomputing CAIS.
 */
export class SctMethod extends MethodBase<SctConfig> implements SalientChannelTuning {
  readonly name = 'sct';
  private readonly model: VisionTransformer;
  private readonly positions: readonly TuningPosition[];
  private readonly modules: ReadonlyMap<TuningPosition, readonly ChannelModule[]>;
  /** CAIS scores per block at each position, once computed (by `prepare`, or for diagnostics). */
  private readonly scores = new Map<TuningPosition, readonly Float32Array[]>();

  constructor(model: VisionTransformer, config: SalientChannelConfig, channels?: ChannelSelectionMap) {
    super(config as SctConfig);
    this.model = model;
    this.positions = tunedPositions(config);
    this.modules = new Map(
      this.positions.map((position) => [
        position,
        config.k.map((k, block): ChannelModule => ({
          weight: this.addVariable(`blocks.${block}.${position}.weight`, (seed) => tf.truncatedNormal([k, k], 0, 0.02, 'float32', seed), { saved: 'transposed' }),
          bias: this.addVariable(`blocks.${block}.${position}.bias`, () => tf.zeros([k])),
          channels: null,
          select: null,
          place: null,
        })),
      ]),
    );
    const { depth, embedDim } = model.config;
    for (const position of this.positions) {
      const given = channels?.[position];
      if (given !== undefined) {
        if (given.length !== depth) throw new ShapeError(`channels for ${position} must list ${depth} blocks, got ${given.length}`);
        this.setChannels(position, given);
      } else if (config.selection === 'random') {
        const random = new SeededRandom(this.seedFor(`${position}.channels`));
        this.setChannels(position, config.k.map((k) => selectChannels(null, k, 'random', embedDim, random)));
      }
    }
  }

  residual(site: BranchSite, stream: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    const module = this.modules.get(site)?.[context.blockIndex];
    if (module === undefined) return stream;
    if (module.select === null || module.place === null) {
      throw new ChannelsNotSelectedError(
        `salient channel tuning: channels of block ${context.blockIndex} (${site}) are not selected; call prepare(trainingData) or loadWeights() first`,
      );
    }
    const [batch, tokens, dim] = stream.shape;
    const rows = tf.reshape(stream, [batch * tokens, dim]) as tf.Tensor2D;
    let delta: tf.Tensor2D = tf.add(tf.matMul(tf.matMul(rows, module.select), module.weight as tf.Tensor2D), module.bias);
    if (this.config.scale !== 1) delta = tf.mul(delta, this.config.scale);
    return tf.reshape(tf.add(rows, tf.matMul(delta, module.place)), [batch, tokens, dim]) as tf.Tensor3D;
  }

  selectedChannels(): Partial<Record<TuningPosition, (Int32Array | null)[]>> {
    return Object.fromEntries([...this.modules].map(([position, list]) => [position, list.map((module) => module.channels)]));
  }

  async prepare(source: BatchSource): Promise<void> {
    if (this.config.selection === 'random') return;
    if (this.model.numClasses < 1) throw new ConfigError('numClasses', this.model.numClasses, 'must be positive: CAIS averages over the classes of the task head');
    for (const position of this.positions) {
      const scores = await this.channelImportance(source, position);
      this.setChannels(position, this.config.k.map((k, block) => selectChannels(scores[block]!, k, this.config.selection, this.model.config.embedDim)));
      this.scores.set(position, scores);
    }
  }

  async diagnostics(probe: DiagnosticProbe): Promise<ChannelDiagnostic[]> {
    const position = this.positions[0]!;
    let scores = this.scores.get(position) ?? null;
    if (scores === null && probe.source !== null && this.model.numClasses >= 1) {
      scores = await this.channelImportance(probe.source, position);
      // Computed once, as prepare's are: the scores of the features the channels are chosen on.
      this.scores.set(position, scores);
    }
    return [
      {
        kind: 'channels',
        name: 'salient-channels',
        title: `channels tuned per block at the ${position} position and every channel's class-aware importance score (SCT, Sec. 3.2)`,
        selected: this.modules.get(position)!.map((module) => Array.from(module.channels ?? [])),
        scores: scores === null ? null : scores.map((block) => Array.from(block)),
      },
    ];
  }

  override weights(): Map<string, tf.Tensor> {
    for (const [position, list] of this.modules) {
      const block = list.findIndex((module) => module.channels === null);
      if (block >= 0) throw new ChannelsNotSelectedError(`salient channel tuning: block ${block} (${position}) has no channels selected to save`);
    }
    return super.weights();
  }

  protected override savedState(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [position, list] of this.modules) {
      list.forEach((module, block) => out.set(`blocks.${block}.${position}.channels`, tf.tensor1d(module.channels!, 'int32')));
    }
    return out;
  }

  protected override restoreState(weights: ReadonlyMap<string, tf.Tensor>): SavedState {
    const name = (position: TuningPosition, block: number) => `blocks.${block}.${position}.channels`;
    const expected = new Map(
      this.positions.flatMap((position) => this.config.k.map((k, block) => [name(position, block), { shape: [k], dtype: 'int32' }] as const)),
    );
    return {
      expected,
      apply: () => {
        const read = this.positions.map((position) => this.config.k.map((_, block) => Int32Array.from(weights.get(name(position, block))!.dataSync())));
        // Every block is checked before any is written.
        this.positions.forEach((position, index) => this.checkChannels(position, read[index]!));
        this.positions.forEach((position, index) => this.setChannels(position, read[index]!));
      },
    };
  }

  /** Loaded channels may differ from those scored by an earlier `prepare`. */
  protected override loaded(): void {
    this.scores.clear();
  }

  protected override disposeState(): void {
    for (const module of [...this.modules.values()].flat()) {
      tf.dispose([module.select ?? [], module.place ?? []]);
      module.select = null;
      module.place = null;
    }
  }

  /** CAIS over `source` on the model without this method's edits (attached or not). */
  private channelImportance(source: BatchSource, position: TuningPosition): Promise<readonly Float32Array[]> {
    const run = async () => (await computeChannelImportance(this.model, source, { position, numClasses: this.model.numClasses })).scores;
    return this.withoutSelf(this.model, run);
  }

  private checkChannels(position: TuningPosition, channels: readonly Int32Array[]): void {
    const dim = this.model.config.embedDim;
    channels.forEach((selected, block) => {
      const k = this.config.k[block]!;
      if (selected.length !== k || !selected.every((c, i) => Number.isInteger(c) && c >= 0 && c < dim && (i === 0 || c > selected[i - 1]!))) {
        throw new ShapeError(`channels of block ${block} (${position}) must be ${k} distinct ascending indices in [0, ${dim - 1}], got [${Array.from(selected).join(', ')}]`);
      }
    });
  }

  /** Checks, then installs, one position's channels of every block. */
  private setChannels(position: TuningPosition, channels: readonly Int32Array[]): void {
    this.checkChannels(position, channels);
    const dim = this.model.config.embedDim;
    this.modules.get(position)!.forEach((module, block) => {
      tf.dispose([module.select ?? [], module.place ?? []]);
      module.channels = Int32Array.from(channels[block]!);
      module.place = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(module.channels!, 'int32'), dim), 'float32') as tf.Tensor2D);
      module.select = tf.tidy(() => tf.transpose(module.place!));
    });
  }
}

/**
 * SCT for a model (not attached). Channels come from `channels` when given (e.g. computed once and
 * shared), from `prepare` otherwise; 'random' selection needs no data and is drawn here.
 */
export function createSalientChannelTuning(model: VisionTransformer, input: SalientChannelConfigInput = {}, channels?: ChannelSelectionMap): SctMethod {
  return new SctMethod(model, resolveSalientChannelConfig(input, model.config), channels);
}

/** `sct` for the benchmark app and saved runs: options as in `SalientChannelConfigInput`. */
export const SCT_DEFINITION: MethodDefinition = {
  name: 'sct',
  description: 'Salient Channel Tuning: a K x K linear map per block on the top-K channels by class-aware importance',
  policy: 'linear',
  create: (model, options) => createSalientChannelTuning(model, options as SalientChannelConfigInput),
};

export const CHANNEL_TUNING_DEFINITIONS: readonly MethodDefinition[] = [SCT_DEFINITION];

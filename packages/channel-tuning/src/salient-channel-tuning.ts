import * as tf from '@tensorflow/tfjs-core';
import type {
  BatchSource,
  BlockContext,
  BranchSite,
  ChannelDiagnostic,
  DeclaredVariable,
  DiagnosticProbe,
  MethodDefinition,
  SavedState,
  TuningMethod,
  VisionTransformer,
  VitConfig,
} from '@visual-peft/vit-core';
import { ConfigError, MethodBase, SeededRandom, ShapeError, VisualPeftError } from '@visual-peft/vit-core';
import { computeChannelImportance, selectChannels } from './channel-importance';
import type { SalientChannelConfig, SalientChannelConfigInput, TuningPosition } from './config';
import { resolveSalientChannelConfig, tunedBlocks, tunedPositions } from './config';
import { SCT_OFFICIAL_NAMES } from './official-names';

/** The method ran before its channels were chosen (by `prepare` on training data, or `loadWeights`). */
export class ChannelsNotSelectedError extends VisualPeftError {}

/** The chosen channels of each tuned block (the last `lastBlocks`, in block order), per position, distinct, in any order (the module's i-th input and output is the i-th channel). */
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
  /** The indices of the blocks with modules (the last `config.lastBlocks`), ascending. */
  readonly blocks: readonly number[];
  /** The selected channels per position and tuned block, in the order of `blocks` (null before selection). */
  selectedChannels(): Partial<Record<TuningPosition, (Int32Array | null)[]>>;
  /**
   * Chooses the channels: the configured score (CAIS or the dataset-level score) over `source` for
   * 'salient'/'insalient' (on the model without this method, attached or not), nothing for 'random'
   * (drawn at construction).
   */
  prepare(source: BatchSource): Promise<void>;
  /**
   * A `salient-channels` record: the channels chosen per block of the model at the first tuned
   * position (empty for blocks without a module) and every channel's score there (those `prepare`
   * computed, else computed once from `probe.source`; null when neither is possible).
   */
  diagnostics(probe: DiagnosticProbe): Promise<ChannelDiagnostic[]>;
}

type SctConfig = SalientChannelConfig & Readonly<Record<string, unknown>>;

/**
 * SCT: per tuned block and position, `x[..., idx] += scale * (W x[..., idx] + b)` on all tokens (CLS
 * included), every other channel untouched. Weights: truncated normal (std 0.02), bias zero. Saved
 * as `blocks.{b}.{position}.weight` [K, K] (PyTorch's Linear layout [out, in]), `.bias` and
 * `.channels` (int32), b the model's block index, so a tuned model reloads without recomputing scores.
 */
export class SctMethod extends MethodBase<SctConfig> implements SalientChannelTuning {
  readonly name = 'sct';
  readonly blocks: readonly number[];
  private readonly model: VisionTransformer;
  private readonly positions: readonly TuningPosition[];
  /** Per position, one module per tuned block, in the order of `blocks`. */
  private readonly modules: ReadonlyMap<TuningPosition, readonly ChannelModule[]>;
  /** Scores per block of the model at each position, once computed (by `prepare`, or for diagnostics). */
  private readonly scores = new Map<TuningPosition, readonly Float32Array[]>();

  constructor(model: VisionTransformer, given: SalientChannelConfig, channels?: ChannelSelectionMap) {
    // A config resolved before `lastBlocks` and `score` existed holds one K per block: every block, CAIS.
    const config: SalientChannelConfig = { ...given, lastBlocks: given.lastBlocks ?? given.k.length, score: given.score ?? 'class-aware' };
    super(config as SctConfig);
    this.model = model;
    const { depth, embedDim } = model.config;
    if (config.k.length !== config.lastBlocks || config.lastBlocks > depth) {
      throw new ConfigError('lastBlocks', config.lastBlocks, `must be at most the model's depth (${depth}) and match k (${config.k.length} values)`);
    }
    this.blocks = tunedBlocks(config, depth);
    this.positions = tunedPositions(config);
    this.modules = new Map(
      this.positions.map((position) => [
        position,
        config.k.map((k, index): ChannelModule => ({
          weight: this.addVariable(`blocks.${this.blocks[index]}.${position}.weight`, (seed) => tf.truncatedNormal([k, k], 0, 0.02, 'float32', seed), {
            saved: 'transposed',
          }),
          bias: this.addVariable(`blocks.${this.blocks[index]}.${position}.bias`, () => tf.zeros([k])),
          channels: null,
          select: null,
          place: null,
        })),
      ]),
    );
    for (const position of this.positions) {
      const given = channels?.[position];
      if (given !== undefined) {
        if (given.length !== this.blocks.length) throw new ShapeError(`channels for ${position} must list ${this.blocks.length} tuned blocks, got ${given.length}`);
        this.setChannels(position, given);
      } else if (config.selection === 'random') {
        const random = new SeededRandom(this.seedFor(`${position}.channels`));
        this.setChannels(position, config.k.map((k) => selectChannels(null, k, 'random', embedDim, random)));
      }
    }
  }

  residual(site: BranchSite, stream: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    const module = this.modules.get(site)?.[context.blockIndex - this.blocks[0]!];
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
    if (this.model.numClasses < 1) throw new ConfigError('numClasses', this.model.numClasses, 'must be positive: the importance pass checks labels against the classes of the task head');
    for (const position of this.positions) {
      const scores = await this.channelImportance(source, position);
      this.setChannels(position, this.config.k.map((k, index) => selectChannels(scores[this.blocks[index]!]!, k, this.config.selection, this.model.config.embedDim)));
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
    const modules = this.modules.get(position)!;
    const score = this.config.score === 'dataset' ? 'dataset-level importance score (SCT, Sec. 3.2 and Table 7)' : 'class-aware importance score (SCT, Sec. 3.2)';
    return [
      {
        kind: 'channels',
        name: 'salient-channels',
        title: `channels tuned per block at the ${position} position and every channel's ${score}`,
        // One list per block of the model, so rows stay block-aligned; empty where no module sits.
        selected: Array.from({ length: this.model.config.depth }, (_, block) => Array.from(modules[block - this.blocks[0]!]?.channels ?? [])),
        scores: scores === null ? null : scores.map((block) => Array.from(block)),
      },
    ];
  }

  override weights(): Map<string, tf.Tensor> {
    for (const [position, list] of this.modules) {
      const index = list.findIndex((module) => module.channels === null);
      if (index >= 0) throw new ChannelsNotSelectedError(`salient channel tuning: block ${this.blocks[index]} (${position}) has no channels selected to save`);
    }
    return super.weights();
  }

  protected override savedState(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [position, list] of this.modules) {
      list.forEach((module, index) => out.set(`blocks.${this.blocks[index]}.${position}.channels`, tf.tensor1d(module.channels!, 'int32')));
    }
    return out;
  }

  protected override restoreState(weights: ReadonlyMap<string, tf.Tensor>): SavedState {
    const name = (position: TuningPosition, index: number) => `blocks.${this.blocks[index]}.${position}.channels`;
    const expected = new Map(
      this.positions.flatMap((position) => this.config.k.map((k, index) => [name(position, index), { shape: [k], dtype: 'int32' }] as const)),
    );
    const read = () => this.positions.map((position) => this.config.k.map((_, index) => Int32Array.from(weights.get(name(position, index))!.dataSync())));
    return {
      expected,
      // Every block is checked before any is written.
      validate: () => this.positions.forEach((position, index) => this.checkChannels(position, read()[index]!)),
      apply: () => this.positions.forEach((position, index) => this.setChannels(position, read()[index]!)),
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

  /** The configured score over `source` on the model without this method's edits (attached or not). */
  private channelImportance(source: BatchSource, position: TuningPosition): Promise<readonly Float32Array[]> {
    const options = { position, numClasses: this.model.numClasses, score: this.config.score };
    const run = async () => (await computeChannelImportance(this.model, source, options)).scores;
    return this.withoutSelf(this.model, run);
  }

  private checkChannels(position: TuningPosition, channels: readonly Int32Array[]): void {
    const dim = this.model.config.embedDim;
    channels.forEach((selected, index) => {
      const k = this.config.k[index]!;
      // Any order, as the official code's `x[..., idx] += linear(x[..., idx])` takes them (module input
      // and output i are channel idx[i]); a repeated channel would be written twice, so it is refused.
      if (selected.length !== k || new Set(selected).size !== k || !selected.every((c) => Number.isInteger(c) && c >= 0 && c < dim)) {
        throw new ShapeError(`channels of block ${this.blocks[index]} (${position}) must be ${k} distinct indices in [0, ${dim - 1}], got [${Array.from(selected).join(', ')}]`);
      }
    });
  }

  /** Checks, then installs, one position's channels of every tuned block. */
  private setChannels(position: TuningPosition, channels: readonly Int32Array[]): void {
    this.checkChannels(position, channels);
    const dim = this.model.config.embedDim;
    this.modules.get(position)!.forEach((module, index) => {
      tf.dispose([module.select ?? [], module.place ?? []]);
      module.channels = Int32Array.from(channels[index]!);
      // Row i of place is channel i's one-hot, so the module's i-th input and output follow the given order.
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

/** The variables `createSalientChannelTuning` builds on a backbone of `backbone`, without building them: a K x K weight (held [in, out]) and a K bias per tuned block and position. */
export function salientChannelShapes(backbone: VitConfig, input: SalientChannelConfigInput = {}): Map<string, DeclaredVariable> {
  const config = resolveSalientChannelConfig(input, backbone);
  const blocks = tunedBlocks(config, backbone.depth);
  return new Map(
    tunedPositions(config).flatMap((position) =>
      config.k.flatMap((k, index): [string, DeclaredVariable][] => [
        [`blocks.${blocks[index]}.${position}.weight`, { shape: [k, k] }],
        [`blocks.${blocks[index]}.${position}.bias`, { shape: [k] }],
      ]),
    ),
  );
}

/** `sct` for the benchmark app and saved runs: options as in `SalientChannelConfigInput`. */
export const SCT_DEFINITION: MethodDefinition = {
  name: 'sct',
  description: 'Salient Channel Tuning: a K x K linear map per block on the top-K channels by class-aware importance (or the dataset-level score; optionally the last l blocks only)',
  policy: 'linear',
  create: (model, options) => createSalientChannelTuning(model, options as SalientChannelConfigInput),
  variableShapes: (backbone, options) => salientChannelShapes(backbone, options as SalientChannelConfigInput),
  officialNames: SCT_OFFICIAL_NAMES,
};

export const CHANNEL_TUNING_DEFINITIONS: readonly MethodDefinition[] = [SCT_DEFINITION];

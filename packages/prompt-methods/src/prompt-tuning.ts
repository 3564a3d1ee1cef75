import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, BlockContext, DeclaredVariable, Diagnostic, DiagnosticProbe, ForwardContext, SlotContext, TokenSlots, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { ConfigError, MethodBase, ShapeError, deriveSeed, perImageDropout } from '@visual-peft/vit-core';
import type { GatedPromptConfig, GatedPromptConfigInput, PromptInitConfig, VptConfig, VptConfigInput } from './config';
import { promptBlockIndex, resolveGatedPromptConfig, resolveVptConfig } from './config';
import { promptNmiPerBlock } from './prompt-nmi';
import { selectionRatios } from './selection-ratio';
import { selfPromptInit } from './self-prompt';

/** GatedPT clamps every temperature into this range before each forward pass (the authors' TEMP_MIN / TEMP_MAX). */
export const TEMPERATURE_RANGE: readonly [number, number] = [0.01, 10];

/** Keeps the logistic noise of a Gumbel-sigmoid finite. */
const UNIFORM_MARGIN = 1e-6;

/**
 * VPT's bound for the uniform prompt initialisation, v = sqrt(6 / (3 p^2 + D)): xavier-uniform for
 * a patch projection from 3 p^2 inputs (the code writes 3 whatever the channel count) to D outputs.
 */
export function uniformPromptBound(patchSize: number, embedDim: number): number {
  return Math.sqrt(6 / (3 * patchSize * patchSize + embedDim));
}

type PromptTuningConfig = PromptInitConfig & (VptConfig | GatedPromptConfig);

interface PromptTuningSettings {
  readonly name: 'vpt-shallow' | 'vpt-deep' | 'gated-prompt';
  readonly config: PromptTuningConfig;
  readonly deep: boolean;
  /** Soft or hard gates after blocks 1 .. L-1, or none. */
  readonly gates: { readonly init: number; readonly hardTemperature: number | null } | null;
  readonly temperature: boolean;
}

/**
 * The variables a prompt method builds on a backbone of `backbone`: the prompts [1, n, D], VPT-deep's
 * sets for blocks 2 .. L [L - 1, n, D], the gates and the temperatures [L]. A gate follows each
 * block from the one the prompts enter to the last but one: L - 1 (the authors' shape) when they
 * enter block 1, none after a block they have not entered.
 */
function promptShapes(backbone: VitConfig, settings: PromptTuningSettings): Map<string, DeclaredVariable> {
  const { depth, embedDim } = backbone;
  const { numPrompts } = settings.config;
  const shapes = new Map<string, DeclaredVariable>([['prompt_embeddings', { shape: [1, numPrompts, embedDim] }]]);
  if (settings.deep && depth > 1) shapes.set('deep_prompt_embeddings', { shape: [depth - 1, numPrompts, embedDim] });
  const gated = depth - 1 - promptBlockIndex(settings.config.promptBlock, depth);
  if (settings.gates !== null && gated > 0) shapes.set('gate_logit', { shape: [gated] });
  if (settings.temperature) shapes.set('temp', { shape: [depth] });
  return shapes;
}

/** Straight-through estimator: the forward value is 1[soft > 0.5], the gradient that of `soft`. */
const hardenGate = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: tf.cast(tf.greater(inputs[0] as tf.Tensor, 0.5), 'float32'),
  gradFunc: (dy: tf.Tensor) => dy,
}));

/** The tokens in `slots` of a sequence [B, T, D]. */
function slotTokens(tokens: tf.Tensor3D, slots: TokenSlots): tf.Tensor3D {
  return tf.slice(tokens, [0, slots.start, 0], [-1, slots.count, -1]);
}

/** `tokens` with `prompts` inserted at `slots.start` (`replace` false) or in place of the tokens in `slots`. */
function withSlots(tokens: tf.Tensor3D, prompts: tf.Tensor3D, slots: TokenSlots, replace: boolean): tf.Tensor3D {
  const before = tf.slice(tokens, [0, 0, 0], [-1, slots.start, -1]);
  const after = tf.slice(tokens, [0, slots.start + (replace ? slots.count : 0), 0], [-1, -1, -1]);
  return tf.concat([before, prompts, after].filter((part) => part.shape[1] > 0), 1);
}

/**
 * Learnable prompt tokens (no position embedding), shallow or deep, optionally with Gated Prompt
 * Tuning's gates on the prompts and its per-block attention temperature. The prompts live in the
 * token slots the backbone assigns (`insertedTokens` = numPrompts; after CLS and the slots of the
 * prompt methods attached before it), so prompt methods compose. Build it with `createVpt` or
 * `createGatedPrompt`; weights use the authors' names (`prompt_embeddings`,
 * `deep_prompt_embeddings`, `gate_logit`, `temp`) and shapes.
 */
export class PromptTuning extends MethodBase<PromptTuningConfig> {
  readonly name: PromptTuningSettings['name'];
  /** Each pass's prompts take this many token slots. */
  readonly insertedTokens: number;
  /** The block (0-based) at whose entry the prompts are inserted. */
  readonly promptBlock: number;
  private readonly depth: number;
  private readonly embedDim: number;
  /**
   * Per-pass random sites: prompt dropout (per image, with the prompt set), the hard gates' Gumbel
   * noise (with the block). Keyed by the method's name and its config's seed, so two composed
   * methods of one kind (which must differ in seed) draw apart.
   */
  private readonly dropoutSite: number;
  private readonly gumbelSite: number;
  private awaitingData: boolean;

  constructor(
    private readonly model: VisionTransformer,
    private readonly settings: PromptTuningSettings,
  ) {
    super(settings.config);
    this.name = settings.name;
    const { depth, embedDim, patchSize } = model.config;
    const { numPrompts } = settings.config;
    this.insertedTokens = numPrompts;
    this.promptBlock = promptBlockIndex(settings.config.promptBlock, depth);
    this.depth = depth;
    this.embedDim = embedDim;
    this.dropoutSite = deriveSeed(this.site('prompt-dropout'), settings.config.seed);
    this.gumbelSite = deriveSeed(this.site('gumbel-gate'), settings.config.seed);
    const bound = uniformPromptBound(patchSize, embedDim);
    const declared = promptShapes(model.config, settings);
    const shape = (name: string) => [...declared.get(name)!.shape];
    for (const name of ['prompt_embeddings', 'deep_prompt_embeddings'].filter((each) => declared.has(each))) {
      this.addVariable(name, (seed) => tf.randomUniform(shape(name), -bound, bound, 'float32', seed));
    }
    if (declared.has('gate_logit')) this.addVariable('gate_logit', () => tf.fill(shape('gate_logit'), -settings.gates!.init));
    if (declared.has('temp')) this.addVariable('temp', () => tf.ones(shape('temp')));
    this.awaitingData = settings.config.init !== 'uniform';
  }

  /** False while `init` names a Self-Prompt Tuning strategy and neither `prepare` nor `loadWeights` has run. */
  get prepared(): boolean {
    return !this.awaitingData;
  }

  protected override loaded(): void {
    this.awaitingData = false;
  }

  /** The prompt sets (1 shallow, L deep), each [numPrompts, embedDim] row-major. */
  promptSets(): Float32Array[] {
    const size = this.config.numPrompts * this.embedDim;
    const names = ['prompt_embeddings', 'deep_prompt_embeddings'].filter((name) => this.hasVariable(name));
    const flat = names.map((name) => this.variable(name).dataSync() as Float32Array);
    return flat.flatMap((values) => Array.from({ length: values.length / size }, (_, set) => values.slice(set * size, (set + 1) * size)));
  }

  /** Replaces the prompt sets (what Self-Prompt Tuning's initialisation does). */
  setPromptSets(sets: readonly Float32Array[]): void {
    const deep = this.hasVariable('deep_prompt_embeddings');
    const count = deep ? this.depth : 1;
    const size = this.config.numPrompts * this.embedDim;
    if (sets.length !== count || sets.some((set) => set.length !== size)) {
      throw new ShapeError(`prompt sets must be ${count} arrays of ${this.config.numPrompts} x ${this.embedDim} values, got ${sets.length} of [${sets.map((set) => set.length).join(', ')}]`);
    }
    tf.tidy(() => {
      this.variable('prompt_embeddings').assign(tf.tensor3d(sets[0]!, [1, this.config.numPrompts, this.embedDim]));
      if (deep) {
        const values = new Float32Array((count - 1) * size);
        sets.slice(1).forEach((set, index) => values.set(set, index * size));
        this.variable('deep_prompt_embeddings').assign(tf.tensor3d(values, [count - 1, this.config.numPrompts, this.embedDim]));
      }
    });
    this.awaitingData = false;
  }

  /**
   * Self-Prompt Tuning: sets the prompts from the training data's tokens with the configured
   * strategy (`selfPromptInit`, with the config's seed). The backbone runs without this method's
   * prompts (switched off while it reads, when attached), so it may run before or after attaching;
   * other attached methods stay on. With init 'uniform' there is nothing to prepare.
   */
  async prepare(source: BatchSource): Promise<void> {
    const { init, numPrompts, seed, sampleSize } = this.config;
    if (init === 'uniform') return;
    const options = { strategy: init, numPrompts, deep: this.settings.deep, promptBlock: this.promptBlock, seed, sampleSize };
    const read = () => selfPromptInit(this.model, source, options);
    const result = await this.withoutSelf(this.model, read);
    this.setPromptSets(result.prompts);
  }

  /**
   * Gate values g_1 .. g_{L-1} (after blocks promptBlock + 1 .. L-1, 1-based, when the prompts enter
   * later) as the evaluation forward uses them: sigmoid(gamma), or 1[gamma > 0] for hard gates.
   */
  gateValues(): number[] {
    // No block to gate (one block, or prompts entering the last one): no gate values.
    if (this.settings.gates !== null && !this.hasVariable('gate_logit')) return [];
    const logits = [...(this.gateLogits().dataSync() as Float32Array)];
    return logits.map((logit) => (this.settings.gates?.hardTemperature === null ? 1 / (1 + Math.exp(-logit)) : logit > 0 ? 1 : 0));
  }

  /** The selection ratio of each gated block (paper eq. 10-11) from the current gates. */
  selectionRatios(): number[] {
    return selectionRatios(this.gateValues());
  }

  /** The attention temperatures tau_1 .. tau_L as stored (clamped at each forward pass). */
  temperatures(): number[] {
    return [...(this.temperatureVariable().dataSync() as Float32Array)];
  }

  /**
   * Before training and after each epoch: the NMI between this method's prompts and the patch
   * tokens on `probe.images` entering the block the prompts enter (block 1 by default; SPT, Wang et
   * al. 2024, Figure 2, whose claim is about the value at initialisation) and entering every later
   * block (one forward pass); for Gated Prompt Tuning also the selection ratios of its gates (eq.
   * 10-11, Figure 4) and its attention temperatures. The method must be attached to `probe.model`
   * and switched on.
   */
  diagnostics(probe: DiagnosticProbe): Diagnostic[] {
    const nmi = promptNmiPerBlock(probe.model, probe.images, { method: this, firstBlock: this.promptBlock });
    const entry = this.promptBlock + 1;
    const diagnostics: Diagnostic[] = [
      {
        kind: 'scalar',
        name: 'prompt-patch-nmi',
        title: `NMI between the prompts and the patch tokens entering block ${entry} (SPT, Wang et al. 2024, Figure 2)`,
        value: nmi[0]!.mean,
      },
      {
        kind: 'per-block',
        name: 'prompt-patch-nmi-per-block',
        title: 'NMI between the prompts and the patch tokens entering each block (SPT, Wang et al. 2024, Sec. 3, Figure 2)',
        firstBlock: this.promptBlock,
        values: nmi.map((block) => block.mean),
      },
    ];
    if (this.hasVariable('gate_logit')) {
      diagnostics.push({
        kind: 'per-block',
        name: 'gate-selection-ratio',
        title: 'selection ratio of gate l (after block l), at the block it feeds (GatedPT, Yoo et al. 2023, eq. 10-11, Figure 4)',
        firstBlock: this.promptBlock + 1,
        values: this.selectionRatios(),
      });
    }
    if (this.settings.temperature) {
      // The values the forward pass uses: clamped as it clamps them (in float32).
      const [low, high] = TEMPERATURE_RANGE.map(Math.fround) as [number, number];
      diagnostics.push({
        kind: 'per-block',
        name: 'attention-temperature',
        title: 'attention temperature tau_l of each block, as the forward pass uses it (GatedPT, Yoo et al. 2023, adaptive attention shaping)',
        firstBlock: 0,
        values: this.temperatures().map((tau) => Math.min(high, Math.max(low, tau))),
      });
    }
    return diagnostics;
  }

  enterBlock(tokens: tf.Tensor3D, context: SlotContext): tf.Tensor3D {
    const block = context.blockIndex;
    if (block === 0) {
      if (this.awaitingData) {
        throw new ConfigError('init', this.config.init, 'needs prepare(trainingSource) or loadWeights() before the first forward pass');
      }
      this.refuseTwin();
      if (this.promptBlock > 0) this.refuseLaterInserters();
      if (this.settings.temperature) this.clampTemperatures();
    }
    if (block === this.promptBlock) return withSlots(tokens, this.promptTokens(0, tokens.shape[0], context), context.slots, false);
    if (block < this.promptBlock || !this.hasVariable('deep_prompt_embeddings')) return tokens;
    // Deep VPT: the previous block's outputs in this method's slots are discarded and set `block` takes their place.
    return withSlots(tokens, this.promptTokens(block, tokens.shape[0], context), context.slots, true);
  }

  exitBlock(blockInput: tf.Tensor3D, blockOutput: tf.Tensor3D, context: SlotContext): tf.Tensor3D {
    const block = context.blockIndex;
    // No gate after the last block, nor after a block the prompts have not entered yet.
    if (this.settings.gates === null || block >= this.depth - 1 || block < this.promptBlock) return blockOutput;
    // GatedPT: this method's slots become g * out + (1 - g) * in; every other token is left as it is.
    const gate = this.gate(block, block - this.promptBlock, context);
    const promptsIn = slotTokens(blockInput, context.slots);
    const promptsOut = slotTokens(blockOutput, context.slots);
    const mixed = tf.add(tf.mul(gate, promptsOut), tf.mul(tf.sub(1, gate), promptsIn)) as tf.Tensor3D;
    return withSlots(blockOutput, mixed, context.slots, true);
  }

  attentionScale(context: BlockContext): tf.Scalar | undefined {
    if (!this.settings.temperature) return undefined;
    // softmax(q k^T / sqrt(d) / tau_l) over the whole attention matrix of block l.
    return tf.div(1, tf.reshape(tf.slice(this.temperatureVariable(), [context.blockIndex], [1]), [])) as tf.Scalar;
  }

  /**
   * Two switched-on methods of one kind with one seed would draw the same prompts (the first of
   * them, for different counts) and the same dropout masks, and identical prompts get identical
   * gradients: they would never become two sets.
   */
  private refuseTwin(): void {
    const twin = this.model.activeExtensions.find((other) => other !== this && other instanceof PromptTuning && other.name === this.name && other.config.seed === this.config.seed);
    if (twin !== undefined) throw new ConfigError('seed', this.config.seed, `must differ between the two ${this.name} methods on one model`);
  }

  /**
   * The backbone gives slots as if every method's tokens were there from block 1; tokens that enter
   * at a later block would leave the slots of a token-inserting method attached after this one
   * pointing at patches in the blocks before. So such a method must be the last one inserting tokens.
   */
  private refuseLaterInserters(): void {
    const active = this.model.activeExtensions;
    const later = active.slice(active.indexOf(this) + 1).find((other) => (other.insertedTokens ?? 0) > 0);
    if (later !== undefined) {
      throw new ConfigError('promptBlock', this.promptBlock, `must be 0 while ${later.name}, attached after ${this.name}, inserts tokens: attach ${this.name} last`);
    }
  }

  private gateLogits(): tf.Variable {
    if (this.settings.gates === null) throw new ConfigError('gates', false, 'must be on to read gate values');
    return this.variable('gate_logit');
  }

  private temperatureVariable(): tf.Variable {
    if (!this.settings.temperature) throw new ConfigError('temperature', false, 'must be on to read temperatures');
    return this.variable('temp');
  }

  /** Like the authors' reinit_temp(): the stored values are clamped, the gradient is untouched. */
  private clampTemperatures(): void {
    const temperatures = this.temperatureVariable();
    tf.tidy(() => temperatures.assign(tf.clipByValue(temperatures, TEMPERATURE_RANGE[0], TEMPERATURE_RANGE[1])));
  }

  /** Prompt set `set` for a batch, [B, P, D], with dropout in training. */
  private promptTokens(set: number, batch: number, context: ForwardContext): tf.Tensor3D {
    const { numPrompts, dropout } = this.config;
    const values = set === 0 ? this.variable('prompt_embeddings') : tf.slice(this.variable('deep_prompt_embeddings'), [set - 1, 0, 0], [1, -1, -1]);
    const prompts = tf.broadcastTo(values, [batch, numPrompts, this.embedDim]) as tf.Tensor3D;
    if (!context.training || dropout === 0) return prompts;
    // As VPT's code: dropout after the expansion to the batch, so each image gets its own mask.
    return perImageDropout(prompts, dropout, context, [this.dropoutSite, set]);
  }

  /**
   * g_l after `block` (logit `index`): sigmoid(gamma_l); for hard gates a Gumbel-sigmoid sample in
   * training, thresholded with straight-through gradients.
   */
  private gate(block: number, index: number, context: ForwardContext): tf.Scalar {
    const logit = tf.reshape(tf.slice(this.gateLogits(), [index], [1]), []) as tf.Scalar;
    const hardTemperature = this.settings.gates?.hardTemperature ?? null;
    if (hardTemperature === null) return tf.sigmoid(logit);
    let noisy = logit;
    if (context.training) {
      // One draw per pass, from the step's seed alone: every micro-batch of a step draws the same.
      const seed = context.seed === undefined ? undefined : deriveSeed(context.seed, this.gumbelSite, block);
      const uniform = tf.randomUniform([], UNIFORM_MARGIN, 1 - UNIFORM_MARGIN, 'float32', seed);
      // The difference of two Gumbel variables is logistic: log u - log(1 - u).
      noisy = tf.add(logit, tf.sub(tf.log(uniform), tf.log(tf.sub(1, uniform))));
    }
    return hardenGate(tf.sigmoid(tf.div(noisy, hardTemperature))) as tf.Scalar;
  }
}

function vptSettings(input: VptConfigInput): PromptTuningSettings {
  const config = resolveVptConfig(input);
  return { name: config.deep ? 'vpt-deep' : 'vpt-shallow', config, deep: config.deep, gates: null, temperature: false };
}

function gatedPromptSettings(input: GatedPromptConfigInput): PromptTuningSettings {
  const config = resolveGatedPromptConfig(input);
  return {
    name: 'gated-prompt',
    config,
    deep: false,
    gates: config.gates ? { init: config.gateInit, hardTemperature: config.hardGates ? config.hardGateTemperature : null } : null,
    temperature: config.temperature,
  };
}

/** VPT-shallow (`deep: false`, default) or VPT-deep, not attached. */
export function createVpt(model: VisionTransformer, input: VptConfigInput = {}): PromptTuning {
  return new PromptTuning(model, vptSettings(input));
}

/** The variables `createVpt` builds on a backbone of `backbone`, without building them. */
export function vptShapes(backbone: VitConfig, input: VptConfigInput = {}): Map<string, DeclaredVariable> {
  return promptShapes(backbone, vptSettings(input));
}

/** Gated Prompt Tuning (shallow prompts, gates, temperatures as configured), not attached. */
export function createGatedPrompt(model: VisionTransformer, input: GatedPromptConfigInput = {}): PromptTuning {
  return new PromptTuning(model, gatedPromptSettings(input));
}

/** The variables `createGatedPrompt` builds on a backbone of `backbone`, without building them. */
export function gatedPromptShapes(backbone: VitConfig, input: GatedPromptConfigInput = {}): Map<string, DeclaredVariable> {
  return promptShapes(backbone, gatedPromptSettings(input));
}

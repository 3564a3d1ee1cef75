import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, BlockContext, ForwardContext, TuningMethod, VisionTransformer } from '@visual-peft/vit-core';
import { ConfigError, ShapeError, deriveSeed, numPrefixTokens, perImageDropout, randomSite } from '@visual-peft/vit-core';
import type { GatedPromptConfig, GatedPromptConfigInput, PromptInitConfig, VptConfig, VptConfigInput } from './config';
import { resolveGatedPromptConfig, resolveVptConfig } from './config';
import { selectionRatios } from './selection-ratio';
import { selfPromptInit } from './self-prompt';

/** GatedPT clamps every temperature into this range before each forward pass (the authors' TEMP_MIN / TEMP_MAX). */
export const TEMPERATURE_RANGE: readonly [number, number] = [0.01, 10];

/**
 * Keys of the pass's random draws (with the prompt set or block index), apart from every other
 * site's: prompt dropout draws per image, the Gumbel noise of hard gates once per pass.
 */
const DROPOUT_SITE = randomSite('prompt-methods/prompt-dropout');
const GUMBEL_SITE = randomSite('prompt-methods/gumbel-gate');
/** Keeps the logistic noise of a Gumbel-sigmoid finite. */
const UNIFORM_MARGIN = 1e-6;

/**
 * VPT's bound for the uniform prompt initialisation, v = sqrt(6 / (3 p^2 + D)): xavier-uniform for
 * a patch projection from 3 p^2 inputs (the code writes 3 whatever the channel count) to D outputs.
 */
export function uniformPromptBound(patchSize: number, embedDim: number): number {
  return Math.sqrt(6 / (3 * patchSize * patchSize + embedDim));
}

interface PromptTuningSettings {
  readonly name: 'vpt-shallow' | 'vpt-deep' | 'gated-prompt';
  readonly config: PromptInitConfig & (VptConfig | GatedPromptConfig);
  readonly deep: boolean;
  /** Soft or hard gates after blocks 1 .. L-1, or none. */
  readonly gates: { readonly init: number; readonly hardTemperature: number | null } | null;
  readonly temperature: boolean;
}

/** Straight-through estimator: the forward value is 1[soft > 0.5], the gradient that of `soft`. */
const hardenGate = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: tf.cast(tf.greater(inputs[0] as tf.Tensor, 0.5), 'float32'),
  gradFunc: (dy: tf.Tensor) => dy,
}));

/**
 * Learnable prompt tokens inserted after CLS (token order [CLS, prompts, patches], no position
 * embedding on the prompts), shallow or deep, optionally with Gated Prompt Tuning's gates on the
 * prompt slots and its per-block attention temperature. Build it with `createVpt` or
 * `createGatedPrompt`; weights use the authors' names (`prompt_embeddings`,
 * `deep_prompt_embeddings`, `gate_logit`, `temp`) and shapes.
 */
export class PromptTuning implements TuningMethod {
  readonly name: PromptTuningSettings['name'];
  readonly config: PromptTuningSettings['config'];
  private readonly variables = new Map<string, tf.Variable>();
  private readonly depth: number;
  private readonly embedDim: number;
  private readonly prefixTokens: number;
  private awaitingData: boolean;

  constructor(
    private readonly model: VisionTransformer,
    private readonly settings: PromptTuningSettings,
  ) {
    this.name = settings.name;
    this.config = settings.config;
    const { depth, embedDim, patchSize } = model.config;
    this.depth = depth;
    this.embedDim = embedDim;
    this.prefixTokens = numPrefixTokens(model.config);
    const { numPrompts, seed } = settings.config;
    const bound = uniformPromptBound(patchSize, embedDim);
    const create = (key: string, initial: () => tf.Tensor) => this.variables.set(key, tf.tidy(() => tf.variable(initial(), true)));
    create('prompt_embeddings', () => tf.randomUniform([1, numPrompts, embedDim], -bound, bound, 'float32', seed));
    if (settings.deep && depth > 1) {
      create('deep_prompt_embeddings', () => tf.randomUniform([depth - 1, numPrompts, embedDim], -bound, bound, 'float32', seed + 1));
    }
    const gates = settings.gates;
    if (gates !== null && depth > 1) create('gate_logit', () => tf.fill([depth - 1], -gates.init));
    if (settings.temperature) create('temp', () => tf.ones([depth]));
    this.awaitingData = settings.config.init !== 'uniform';
  }

  /** False while `init` names a Self-Prompt Tuning strategy and neither `prepare` nor `loadWeights` has run. */
  get prepared(): boolean {
    return !this.awaitingData;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.variables.values()];
  }

  numParameters(): number {
    return this.trainableVariables().reduce((sum, variable) => sum + variable.size, 0);
  }

  weights(): Map<string, tf.Tensor> {
    return new Map([...this.variables].map(([key, variable]) => [key, tf.clone(variable)]));
  }

  loadWeights(weights: ReadonlyMap<string, tf.Tensor>): void {
    const expected = [...this.variables.keys()];
    if (weights.size !== expected.length || expected.some((key) => !weights.has(key))) {
      throw new ConfigError('weights', [...weights.keys()], `must hold exactly ${expected.join(', ')}`);
    }
    for (const [key, variable] of this.variables) {
      const value = weights.get(key)!;
      if (value.shape.join(',') !== variable.shape.join(',')) {
        throw new ShapeError(`${key} must have shape [${variable.shape.join(', ')}], got [${value.shape.join(', ')}]`);
      }
    }
    for (const [key, variable] of this.variables) variable.assign(weights.get(key)!);
    this.awaitingData = false;
  }

  dispose(): void {
    tf.dispose(this.trainableVariables());
    this.variables.clear();
  }

  /** The prompt sets (1 shallow, L deep), each [numPrompts, embedDim] row-major. */
  promptSets(): Float32Array[] {
    const size = this.config.numPrompts * this.embedDim;
    const flat = [this.variable('prompt_embeddings'), this.variables.get('deep_prompt_embeddings')]
      .filter((variable) => variable !== undefined)
      .map((variable) => variable.dataSync() as Float32Array);
    return flat.flatMap((values) => Array.from({ length: values.length / size }, (_, set) => values.slice(set * size, (set + 1) * size)));
  }

  /** Replaces the prompt sets (what Self-Prompt Tuning's initialisation does). */
  setPromptSets(sets: readonly Float32Array[]): void {
    const count = this.variables.has('deep_prompt_embeddings') ? this.depth : 1;
    const size = this.config.numPrompts * this.embedDim;
    if (sets.length !== count || sets.some((set) => set.length !== size)) {
      throw new ShapeError(`prompt sets must be ${count} arrays of ${this.config.numPrompts} x ${this.embedDim} values, got ${sets.length} of [${sets.map((set) => set.length).join(', ')}]`);
    }
    tf.tidy(() => {
      this.variable('prompt_embeddings').assign(tf.tensor3d(sets[0]!, [1, this.config.numPrompts, this.embedDim]));
      if (count > 1) {
        const deep = new Float32Array((count - 1) * size);
        sets.slice(1).forEach((set, index) => deep.set(set, index * size));
        this.variable('deep_prompt_embeddings').assign(tf.tensor3d(deep, [count - 1, this.config.numPrompts, this.embedDim]));
      }
    });
    this.awaitingData = false;
  }

  /**
   * Self-Prompt Tuning: sets the prompts from the training data's tokens with the configured
   * strategy (`selfPromptInit`). Run it before attaching the method; with init 'uniform' there is
   * nothing to prepare.
   */
  async prepare(source: BatchSource): Promise<void> {
    const { init, numPrompts, seed, sampleSize } = this.config;
    if (init === 'uniform') return;
    if (this.model.extensions.includes(this)) {
      throw new ConfigError('prepare', this.name, 'must run before the method is attached: Self-Prompt Tuning reads the backbone without its prompts');
    }
    const result = await selfPromptInit(this.model, source, { strategy: init, numPrompts, deep: this.settings.deep, seed, sampleSize });
    this.setPromptSets(result.prompts);
  }

  /** Gate values g_1 .. g_{L-1} as the evaluation forward uses them: sigmoid(gamma), or 1[gamma > 0] for hard gates. */
  gateValues(): number[] {
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

  enterBlock(tokens: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    const block = context.blockIndex;
    if (block === 0) {
      if (this.awaitingData) {
        throw new ConfigError('init', this.config.init, 'needs prepare(trainingSource) or loadWeights() before the first forward pass');
      }
      if (this.settings.temperature) this.clampTemperatures();
      return this.withPrompts(tokens, this.promptTokens(0, tokens.shape[0], context), 0);
    }
    if (!this.variables.has('deep_prompt_embeddings')) return tokens;
    // Deep VPT: the previous block's prompt outputs are discarded and set `block` takes their slots.
    return this.withPrompts(tokens, this.promptTokens(block, tokens.shape[0], context), this.config.numPrompts);
  }

  exitBlock(blockInput: tf.Tensor3D, blockOutput: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    const block = context.blockIndex;
    if (this.settings.gates === null || block >= this.depth - 1) return blockOutput;
    // GatedPT: prompt slots become g * out + (1 - g) * in; CLS and patches are left as they are.
    const gate = this.gate(block, context);
    const promptsIn = this.promptSlots(blockInput);
    const promptsOut = this.promptSlots(blockOutput);
    const mixed = tf.add(tf.mul(gate, promptsOut), tf.mul(tf.sub(1, gate), promptsIn)) as tf.Tensor3D;
    return this.withPrompts(blockOutput, mixed, this.config.numPrompts);
  }

  attentionScale(context: BlockContext): tf.Scalar | undefined {
    if (!this.settings.temperature) return undefined;
    // softmax(q k^T / sqrt(d) / tau_l) over the whole attention matrix of block l.
    return tf.div(1, tf.reshape(tf.slice(this.temperatureVariable(), [context.blockIndex], [1]), [])) as tf.Scalar;
  }

  private variable(key: string): tf.Variable {
    const variable = this.variables.get(key);
    if (variable === undefined) throw new ConfigError('method', this.name, `has no ${key} (disposed, or not part of this configuration)`);
    return variable;
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
    return perImageDropout(prompts, dropout, context, [DROPOUT_SITE, set]);
  }

  /** The prompt slots [B, P, D] of a sequence [CLS, prompts, patches]. */
  private promptSlots(tokens: tf.Tensor3D): tf.Tensor3D {
    return tf.slice(tokens, [0, this.prefixTokens, 0], [-1, this.config.numPrompts, -1]);
  }

  /** [prefix, prompts, tokens after the first `replaced` non-prefix tokens]: inserts (0) or replaces (P) the prompt slots. */
  private withPrompts(tokens: tf.Tensor3D, prompts: tf.Tensor3D, replaced: number): tf.Tensor3D {
    const rest = tf.slice(tokens, [0, this.prefixTokens + replaced, 0], [-1, -1, -1]);
    const parts = this.prefixTokens === 0 ? [prompts, rest] : [tf.slice(tokens, [0, 0, 0], [-1, this.prefixTokens, -1]), prompts, rest];
    return tf.concat(parts, 1);
  }

  /** g_l: sigmoid(gamma_l); for hard gates a Gumbel-sigmoid sample in training, thresholded with straight-through gradients. */
  private gate(block: number, context: ForwardContext): tf.Scalar {
    const logit = tf.reshape(tf.slice(this.gateLogits(), [block], [1]), []) as tf.Scalar;
    const hardTemperature = this.settings.gates?.hardTemperature ?? null;
    if (hardTemperature === null) return tf.sigmoid(logit);
    let noisy = logit;
    if (context.training) {
      // One draw per pass, from the step's seed alone: every micro-batch of a step draws the same.
      const seed = context.seed === undefined ? undefined : deriveSeed(context.seed, GUMBEL_SITE, block);
      const uniform = tf.randomUniform([], UNIFORM_MARGIN, 1 - UNIFORM_MARGIN, 'float32', seed);
      // The difference of two Gumbel variables is logistic: log u - log(1 - u).
      noisy = tf.add(logit, tf.sub(tf.log(uniform), tf.log(tf.sub(1, uniform))));
    }
    return hardenGate(tf.sigmoid(tf.div(noisy, hardTemperature))) as tf.Scalar;
  }
}

/** VPT-shallow (`deep: false`, default) or VPT-deep, not attached. */
export function createVpt(model: VisionTransformer, input: VptConfigInput = {}): PromptTuning {
  const config = resolveVptConfig(input);
  return new PromptTuning(model, { name: config.deep ? 'vpt-deep' : 'vpt-shallow', config, deep: config.deep, gates: null, temperature: false });
}

/** Gated Prompt Tuning (shallow prompts, gates, temperatures as configured), not attached. */
export function createGatedPrompt(model: VisionTransformer, input: GatedPromptConfigInput = {}): PromptTuning {
  const config = resolveGatedPromptConfig(input);
  return new PromptTuning(model, {
    name: 'gated-prompt',
    config,
    deep: false,
    gates: config.gates ? { init: config.gateInit, hardTemperature: config.hardGates ? config.hardGateTemperature : null } : null,
    temperature: config.temperature,
  });
}

import * as tf from '@tensorflow/tfjs-core';
import type {
  BlockContext,
  BranchSite,
  BranchTensors,
  ForwardContext,
  LinearSite,
  NormSite,
  SiteContext,
  SlotContext,
  TokenSlots,
  VitExtension,
} from './extension';
import { ConfigError } from './errors';

/** Hooks an attached extension may define only if no other attached extension does. */
const SOLE_HOOKS = [
  ['classify', 'replaces the classifier'],
  ['trainingForward', 'runs its own training forward pass'],
] as const;

/**
 * The attached extensions, called in attach order at each extension point. With none attached (or
 * every one switched off) every call returns its input unchanged, so the backbone computes the
 * pretrained model exactly.
 */
export class Hooks {
  private attached: VitExtension[] = [];
  /** The attached extensions that are switched on, in attach order: what every hook iterates. */
  private list: VitExtension[] = [];
  /** How many `disable` calls hold each extension off. */
  private readonly off = new Map<VitExtension, number>();

  /** @param prefixTokens Tokens before the first inserted slot (CLS). */
  constructor(private readonly prefixTokens: number) {}

  /** Every attached extension, in attach order (switched off or not). */
  get extensions(): readonly VitExtension[] {
    return this.attached;
  }

  /** The attached extensions that are switched on. */
  get active(): readonly VitExtension[] {
    return this.list;
  }

  attach(extension: VitExtension): void {
    if (this.attached.includes(extension)) throw new ConfigError('extension', extension.name, 'is already attached');
    for (const [hook, what] of SOLE_HOOKS) {
      const other = this.attached.find((candidate) => candidate[hook] !== undefined);
      if (extension[hook] !== undefined && other !== undefined) {
        throw new ConfigError('extension', extension.name, `${what}, and the attached ${other.name} already does: attach only one of them`);
      }
    }
    const inserted = extension.insertedTokens ?? 0;
    if (!Number.isInteger(inserted) || inserted < 0) throw new ConfigError(`${extension.name}.insertedTokens`, inserted, 'must be a non-negative integer');
    this.attached.push(extension);
    this.refresh();
  }

  detach(extension: VitExtension): void {
    const index = this.attached.indexOf(extension);
    if (index < 0) throw new ConfigError('extension', extension.name, 'is not attached');
    this.attached.splice(index, 1);
    this.off.delete(extension);
    this.refresh();
  }

  /**
   * Runs `run` with `extensions` switched off: every hook skips them and the token slots close up,
   * as if they were detached, but attach order is kept. Calls nest. When `run` returns a promise
   * they stay off until it settles (any forward pass started meanwhile runs without them too).
   */
  disable<T>(extensions: readonly VitExtension[], run: () => T): T {
    for (const extension of extensions) {
      if (!this.attached.includes(extension)) throw new ConfigError('extension', extension.name, 'is not attached');
    }
    const change = (delta: number) => {
      for (const extension of extensions) this.off.set(extension, (this.off.get(extension) ?? 0) + delta);
      this.refresh();
    };
    change(1);
    let result: T;
    try {
      result = run();
    } catch (error) {
      change(-1);
      throw error;
    }
    if (result instanceof Promise) return result.finally(() => change(-1)) as T;
    change(-1);
    return result;
  }

  /**
   * Where an extension's inserted tokens sit: after the prefix and the slots of the switched-on
   * extensions attached before it. `count` is 0 for one that inserts none or is switched off.
   */
  slots(extension: VitExtension): TokenSlots {
    let start = this.prefixTokens;
    for (const other of this.list) {
      if (other === extension) return { start, count: other.insertedTokens ?? 0 };
      start += other.insertedTokens ?? 0;
    }
    if (!this.attached.includes(extension)) throw new ConfigError('extension', extension.name, 'is not attached');
    return { start, count: 0 };
  }

  private refresh(): void {
    this.list = this.attached.filter((extension) => (this.off.get(extension) ?? 0) === 0);
  }

  private withSlots(extension: VitExtension, context: BlockContext): SlotContext {
    return { ...context, slots: this.slots(extension) };
  }

  enterBlock(tokens: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    for (const extension of this.list) if (extension.enterBlock) tokens = extension.enterBlock(tokens, this.withSlots(extension, context));
    return tokens;
  }

  exitBlock(blockInput: tf.Tensor3D, blockOutput: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    for (const extension of this.list) {
      if (extension.exitBlock) blockOutput = extension.exitBlock(blockInput, blockOutput, this.withSlots(extension, context));
    }
    return blockOutput;
  }

  /** The product of every extension's logit multiplier, or null when none changes it. */
  attentionScale(context: BlockContext): tf.Scalar | number | null {
    let scale: tf.Scalar | number | null = null;
    for (const extension of this.list) {
      const factor = extension.attentionScale?.(context);
      if (factor === undefined) continue;
      scale = scale === null ? factor : (tf.mul(scale, factor) as tf.Scalar);
    }
    return scale;
  }

  linear(site: LinearSite, input: tf.Tensor2D, output: tf.Tensor2D, context: SiteContext): tf.Tensor2D {
    for (const extension of this.list) {
      if (extension.linearOutput) output = extension.linearOutput(site, input, output, context);
    }
    return output;
  }

  norm<T extends tf.Tensor>(site: NormSite, output: T, context: SiteContext): T {
    for (const extension of this.list) if (extension.normOutput) output = extension.normOutput(site, output, context) as T;
    return output;
  }

  branch(site: BranchSite, branch: BranchTensors, context: BlockContext): tf.Tensor3D {
    let output = branch.output;
    for (const extension of this.list) {
      if (extension.branchOutput) output = extension.branchOutput(site, { input: branch.input, output }, context);
    }
    return output;
  }

  residual(site: BranchSite, stream: tf.Tensor3D, context: BlockContext): tf.Tensor3D {
    for (const extension of this.list) if (extension.residual) stream = extension.residual(site, stream, context);
    return stream;
  }

  /** Every attached extension's query tokens for this block, concatenated, or null. */
  queryTokens(batchSize: number, context: BlockContext): { tokens: tf.Tensor3D; counts: number[] } | null {
    const parts: tf.Tensor3D[] = [];
    const counts: number[] = [];
    for (const extension of this.list) {
      const tokens = extension.queryTokens?.(batchSize, context);
      counts.push(tokens?.shape[1] ?? 0);
      if (tokens !== undefined) parts.push(tokens);
    }
    if (parts.length === 0) return null;
    return { tokens: parts.length === 1 ? parts[0]! : tf.concat(parts, 1), counts };
  }

  /** Hands each extension back the outputs of the query tokens it contributed. */
  queryOutputs(outputs: tf.Tensor3D, counts: readonly number[], context: BlockContext): void {
    let offset = 0;
    this.list.forEach((extension, index) => {
      const count = counts[index] ?? 0;
      if (count > 0) extension.queryOutputs?.(tf.slice(outputs, [0, offset, 0], [-1, count, -1]), context);
      offset += count;
    });
  }

  headInput(pooled: tf.Tensor2D, context: ForwardContext): tf.Tensor2D {
    for (const extension of this.list) if (extension.headInput) pooled = extension.headInput(pooled, context);
    return pooled;
  }

  classifier(): VitExtension['classify'] | undefined {
    const extension = this.list.find((candidate) => candidate.classify !== undefined);
    return extension?.classify?.bind(extension);
  }
}

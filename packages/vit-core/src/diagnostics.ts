import type * as tf from '@tensorflow/tfjs-core';
import type { BatchSource } from './batch';
import type { VisionTransformer } from './vision-transformer';

/** What a method's `diagnostics` may read: the model it is attached to and fixed data of the task. */
export interface DiagnosticProbe {
  readonly model: VisionTransformer;
  /** A fixed batch of held-out images [B, C, H, W] (the same batch every epoch), in evaluation mode. */
  readonly images: tf.Tensor4D;
  /** The training split with labels and the evaluation pipeline (class-aware statistics), or null. */
  readonly source: BatchSource | null;
  /** The epoch just finished, 0-based; -1 before the first (the initial weights). */
  readonly epoch: number;
}

interface DiagnosticBase {
  /** kebab-case, unique within its method: 'gate-selection-ratio', 'prompt-patch-nmi'. */
  readonly name: string;
  /** One line for a report, with its source: 'selection ratio of each gated block (GatedPT eq. 11)'. */
  readonly title: string;
}

/** One number (e.g. the mean NMI between prompts and patch tokens): a report plots it over epochs. */
export interface ScalarDiagnostic extends DiagnosticBase {
  readonly kind: 'scalar';
  readonly value: number;
}

/** One number per block (gate ratios, temperatures, query importance): a report plots it over blocks. */
export interface PerBlockDiagnostic extends DiagnosticBase {
  readonly kind: 'per-block';
  /** The 0-based index of the block `values[0]` belongs to (gates sit after blocks 1 .. L-1). */
  readonly firstBlock: number;
  readonly values: readonly number[];
}

/** Chosen channels per block, with every channel's score when known: a report draws the scores and marks the choice. */
export interface ChannelDiagnostic extends DiagnosticBase {
  readonly kind: 'channels';
  readonly selected: readonly (readonly number[])[];
  readonly scores: readonly (readonly number[])[] | null;
}

export type Diagnostic = ScalarDiagnostic | PerBlockDiagnostic | ChannelDiagnostic;

export const DIAGNOSTIC_KINDS: readonly Diagnostic['kind'][] = ['scalar', 'per-block', 'channels'];

import type { DeclaredVariable, MethodDefinition, TuningMethod, VisionTransformer, VitConfig } from '@visual-peft/vit-core';
import { adapterShapes, createAdapter } from './adapter';
import { adaptFormerShapes, createAdaptFormer } from './adaptformer';
import { createLora, loraShapes } from './lora';
import { createSsf, ssfShapes } from './ssf';

/**
 * A definition whose `create` and `variableShapes` hand the plain options to the method's factory
 * and shape function as they are: their config constructor checks every key and value, so the cast
 * claims nothing unchecked.
 */
function define<Input>(
  name: string,
  description: string,
  factory: (model: VisionTransformer, input: Input) => TuningMethod,
  shapes: (backbone: VitConfig, input: Input) => ReadonlyMap<string, DeclaredVariable>,
): MethodDefinition {
  return { name, description, policy: 'linear', create: (model, options) => factory(model, options as Input), variableShapes: (backbone, options) => shapes(backbone, options as Input) };
}

export const ADAPTER_DEFINITION = define('adapter', 'Houlsby adapter in each MLP residual branch (options: bottleneck=8, initStd=0.02, seed)', createAdapter, adapterShapes);

export const ADAPTFORMER_DEFINITION = define(
  'adaptformer',
  'AdaptFormer: scaled bottleneck branch parallel to each MLP (options: bottleneck=64, scale=0.1, dropout=0.1, layerNorm=none|in|out, seed)',
  createAdaptFormer,
  adaptFormerShapes,
);

export const LORA_DEFINITION = define('lora', 'LoRA on the query and value projections (options: rank=8, alpha=rank, seed)', createLora, loraShapes);

export const SSF_DEFINITION = define('ssf', 'SSF: learnable scale and shift after every projection and LayerNorm (options: initStd=0.02, seed)', createSsf, ssfShapes);

/** The baselines of the SCT and VQT papers, as the benchmark app and saved runs name them. */
export const ADAPTER_METHOD_DEFINITIONS: readonly MethodDefinition[] = [ADAPTER_DEFINITION, ADAPTFORMER_DEFINITION, LORA_DEFINITION, SSF_DEFINITION];

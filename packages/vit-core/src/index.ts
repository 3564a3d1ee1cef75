export type { BatchSource, ImageBatch } from './batch';
export type { GlobalPool, PosEmbedInterpolation, VitConfig, VitConfigInput, VitPresetName } from './config';
export { MAX_VIT_PARAMETERS, VIT_PRESETS, isVitPreset, numPrefixTokens, patchGrid, resolveVitConfig, vitParameterCount, vitParameterShapes, vitPreset } from './config';
export type { ShapeMismatch } from './errors';
export type { FileAccess } from './errors';
export { CheckpointMismatchError, ConfigError, FileSystemError, FileWriteError, FormatError, MissingGradientError, ShapeError, VisualPeftError, asMissingGradient, checkTensors } from './errors';
export { registerGradients } from './gradients/register-gradients';
export type { NumberRange } from './validate';
export { flag, integer, integerPair, knownOptions, nonEmptyString, numberInRange, oneOf, positiveNumber, rate } from './validate';
export type {
  BlockContext,
  BranchSite,
  BranchTensors,
  DeclaredVariable,
  ForwardContext,
  ForwardState,
  LinearSite,
  MethodDefinition,
  NormSite,
  SiteContext,
  SlotContext,
  TokenSlots,
  TuningMethod,
  VitExtension,
} from './extension';
export type { ChannelDiagnostic, Diagnostic, DiagnosticProbe, PerBlockDiagnostic, ScalarDiagnostic } from './diagnostics';
export { DIAGNOSTIC_KINDS } from './diagnostics';
export type { ForwardPassContext, TrainingForward } from './training-forward';
export type { SavedLayout, SavedState, VariableOptions } from './method-base';
export { MethodBase } from './method-base';
export type { BlockOptions, KeysValues } from './block';
export { Block, LayerNorm, Linear } from './block';
export { attention, dropPath, gelu, layerNorm, linear, perImageDropout, reshape, residualAdd } from './ops';
export { isTapeRecording, leanGradients, leanVariableGrads, recomputeSegment } from './lean-tape';
export type { Initializer, Parameter, ParameterLayout } from './parameter';
export { assignParameter, createParameter, readParameter } from './parameter';
export type { RandomState } from './random';
export { SeededRandom, deriveSeed, tfjsSeed } from './random';
export type { DrawContext } from './per-image-random';
export { perImageUniform, randomSite } from './per-image-random';
export type { ResampleOptions } from './pos-embed';
export { resamplePosEmbed, resampleWeights } from './pos-embed';
export type { ForwardOptions, HeadInit, HeadOptions, IntermediatesOptions, VitOptions } from './vision-transformer';
export { VisionTransformer } from './vision-transformer';
export type { LoadOptions, LoadReport } from './weights';
export { getStateDict, loadStateDict } from './weights';
export type { ParameterCounts, TrainablePolicy } from './trainable';
export { TRAINABLE_POLICIES, applyTrainablePolicy, countDeclaredParameters, countParameters, declaredVariables } from './trainable';
export * from './checkpoint';
export { METHOD_WEIGHTS_FORMAT, checkMethodWeights, loadMethodWeights, serializeMethodWeights } from './method-weights';

export type { AdamWOptions } from './adamw';
export { AdamW, resolveAdamWOptions } from './adamw';
export { clipGradNorm, globalNorm } from './clip-grad-norm';
export type { OptimizerConfig, OptimizerConfigInput, OptimizerKind } from './create-optimizer';
export { createOptimizer, resolveOptimizerConfig } from './create-optimizer';
export { DivergenceError } from './errors';
export type { DifferenceLabels } from './fingerprint';
export { CHECKPOINT_LABELS, firstDifference } from './fingerprint';
export type { EvaluateOptions, EvaluationResult } from './evaluate';
export { evaluate } from './evaluate';
export { crossEntropyPerSample, softmaxCrossEntropy } from './loss';
export type { OptimizerState, ParameterGroup, TrainableParameter, UpdateContext, UpdateResult } from './optimizer';
export { Optimizer } from './optimizer';
export type { ClassifiedParameter, GroupOptions } from './parameter-groups';
export { collectTrainableParameters, groupParameters } from './parameter-groups';
export type { CosineSpan, ScheduleConfig, ScheduleConfigInput, ScheduleKind, ScheduleUnit } from './schedule';
export { LearningRateSchedule, resolveScheduleConfig, scaleLearningRate } from './schedule';
export type { SgdOptions } from './sgd';
export { Sgd, resolveSgdOptions } from './sgd';
export type {
  BatchGradients,
  BestEpoch,
  EpochEvent,
  EpochSummary,
  FitOptions,
  ProgressEvent,
  StepEvent,
  StepPass,
  TrainResult,
  TrainerOptions,
} from './trainer';
export { Trainer } from './trainer';
export { sliceBatch } from './batch-tensors';
export type { BestMetric, TrainerConfig, TrainerConfigInput } from './trainer-config';
export { resolveTrainerConfig } from './trainer-config';
export type { TrainerStore, TrainingCheckpoint } from './trainer-store';
export { CHECKPOINT_FILE, TRAINING_CHECKPOINT_FORMAT } from './trainer-store';
export type { ForwardPassContext, TrainingForward } from './training-forward';
export { modelForward } from './training-forward';
export type { BackboneInit, TunedRunInfo, TunedWeights, TunedWeightsManifest } from './tuned-weights';
export {
  TUNED_WEIGHTS_FORMAT,
  applyTunedWeights,
  checkTunedBackbone,
  decodeTunedWeights,
  encodeTunedWeights,
  loadTunedWeightsBytes,
  restoreTunedTensors,
  tunedTensors,
} from './tuned-weights';
export { WeightEma } from './weight-ema';
export { fromHostTensor, toHostTensor } from './host-tensors';
export type { DiagnosticsOptions, MethodDiagnostics } from './diagnostics';
export { INITIAL_DIAGNOSTICS_EPOCH, collectDiagnostics } from './diagnostics';

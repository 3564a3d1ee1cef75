export type { SegmentationMetrics } from './confusion-matrix';
export { ConfusionMatrix } from './confusion-matrix';
export type { SegmentationEvaluation } from './evaluate-segmentation';
export { evaluateSegmentation } from './evaluate-segmentation';
export type { HeadLayout, HeadParameter } from './head-parameter';
export { polyLearningRate } from './poly-learning-rate';
export type { BilinearTaps } from './resize-bilinear';
export { bilinearTaps, resizeBilinear } from './resize-bilinear';
export type { SegmentationBatchLike } from './segmentation-batch';
export { batchTensors } from './segmentation-batch';
export type { InferenceMode, InferenceOptions, SlidingWindow } from './segmentation-inference';
export { inferSegmentation, predictLabels, slidingWindows } from './segmentation-inference';
export type { LossAverage, SegmentationLossOptions } from './segmentation-loss';
export { LOSS_AVERAGES, checkLabels, pixelCrossEntropy, segmentationCrossEntropy } from './segmentation-loss';
export type {
  GroupLearningRates,
  SegmentationFitOptions,
  SegmentationFitResult,
  SegmentationLoopConfig,
  SegmentationLoopConfigInput,
  SegmentationLossValues,
  SegmentationStepResult,
  SegmentationTrainSource,
} from './segmentation-loop';
export { SegmentationLoop, polySchedule, resolveSegmentationLoopConfig, segmentationPass } from './segmentation-loop';
export type { GradientUpdate, GroupOptimizer, SegmentationOptimizers, SegmentationTrainerConfig, SegmentationTrainerConfigInput } from './segmentation-trainer';
export { SegmentationTrainer, resolveSegmentationTrainerConfig } from './segmentation-trainer';
export type { HeadParameterCounts, SegmentationForwardOptions, SegmentationLosses, SetrPupConfig, SetrPupConfigInput } from './setr-pup';
export { SetrPup, resolveSetrPupConfig, setrPupParameterCounts } from './setr-pup';
export type { HeadForwardOptions, SetrPupHeadConfig, SetrPupHeadConfigInput, SetrPupHeadOptions, SetrPupHeadOptionsInput } from './setr-pup-head';
export { SETR_PUP_HEAD_OPTIONS, SetrPupHead, resolveSetrPupHeadConfig, resolveSetrPupHeadOptions } from './setr-pup-head';

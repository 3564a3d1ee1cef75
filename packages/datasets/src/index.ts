export type { ClassificationSplit, ImageExample, Origin, RawPixels } from './classification-split';
export type { ProblemHandler } from './dataset-error';
export { CorruptImageError, DatasetError } from './dataset-error';
export type { DatasetLoadOptions } from './read-split-file';
export type { FgvcDataset, FgvcSplit } from './fgvc';
export { FGVC_DATASETS, FGVC_SPLITS, isFgvcDataset, loadFgvc } from './fgvc';
export type { VtabGroup, VtabSplit, VtabTask } from './vtab';
export { VTAB_SPLITS, VTAB_TASKS, isVtabTask, loadVtab } from './vtab';
export type { FashionMnistSplit } from './fashion-mnist';
export { DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, FASHION_MNIST_FILES, loadFashionMnist } from './fashion-mnist';
export type { IdxArray } from './idx';
export { parseIdx, serializeIdx } from './idx';
export type { Vtab1kOptions, Vtab1kSplits } from './vtab-1k-splits';
export { buildVtab1kSplits } from './vtab-1k-splits';
export type { ImageFolderOptions, ImageFolderSplit } from './image-folder';
export { IMAGE_EXTENSIONS, IMAGE_FOLDER_SPLITS, VAL_FOLDER, hasValFolder, listImages, loadImageFolder } from './image-folder';
export type { Ade20kSplit, SegmentationExample, SegmentationSplit } from './ade20k';
export { ADE20K_NUM_CLASSES, ADE20K_SPLITS, IGNORE_INDEX, loadAde20k } from './ade20k';
export type { LabelMap, LabelMapOptions } from './label-map';
export { cropLabelMap, decodeLabelMap, flipLabelMap, resizeLabelMap } from './label-map';
export type { Interpolation, ResizeSpec } from './decode-image';
export { decodeImage, resizedSize } from './decode-image';
export type { PlanarImage } from './planar-image';
export { createPlanarImage, planarFromInterleaved } from './planar-image';
export type { CropBox, ImageStep } from './transforms';
export { IMAGENET_MEAN, IMAGENET_STD, centerCrop, cropImage, flipImage, horizontalFlip, normalizeInto, randomCrop } from './transforms';
export type { AffineInterpolation, AffineOptions } from './pil-ops';
export {
  adjustBrightness,
  adjustColor,
  adjustContrast,
  adjustSharpness,
  affine,
  autoContrast,
  equalize,
  invert,
  posterize,
  rotate,
  shearX,
  shearY,
  solarize,
  solarizeAdd,
  translateX,
  translateY,
} from './pil-ops';
export type { RandAugmentConfig, RandAugmentOp } from './rand-augment';
export {
  DEFAULT_RAND_AUGMENT,
  RAND_AUGMENT_INCREASING_OPS,
  RAND_AUGMENT_OPS,
  applyRandAugmentOp,
  parseRandAugment,
  randAugment,
  randAugmentArgument,
  resolveRandAugmentConfig,
  sampleMagnitude,
} from './rand-augment';
export type { ColorJitterConfig } from './color-jitter';
export { DEFAULT_COLOR_JITTER, colorJitter } from './color-jitter';
export type { PhotometricDistortionConfig } from './photometric-distortion';
export { DEFAULT_PHOTOMETRIC_DISTORTION, hsvToRgb, photometricDistortion, rgbToHsv } from './photometric-distortion';
export type { ImagePipeline, ImagePipelineInput, PipelinePresetName, PipelinePresetOptions } from './image-pipeline';
export { PIPELINE_PRESETS, createImagePipeline, pipelinePreset, runImagePipeline } from './image-pipeline';
export type { LoaderOptions } from './prefetch-batches';
export { planEpoch, resolveLoaderOptions } from './prefetch-batches';
export type { BatchSourceOptions, DatasetBatchSource } from './batch-source';
export { createBatchSource } from './batch-source';
export type {
  SegmentationBatch,
  SegmentationBatchSource,
  SegmentationEvalConfig,
  SegmentationSourceOptions,
  SegmentationTrainConfig,
} from './segmentation-source';
export {
  DEFAULT_SEGMENTATION_EVAL,
  DEFAULT_SEGMENTATION_TRAIN,
  categoryRatioCrop,
  createSegmentationSource,
  loadSegmentationSample,
  rescaleSize,
} from './segmentation-source';
export type { CheckOptions, DatasetProblem, DatasetReport } from './dataset-check';
export { checkDataset, checkImages } from './dataset-check';
export type { DatasetName } from './dataset-names';
export { DATASET_NAMES, isDatasetName } from './dataset-names';
export type { ClassificationProtocol } from './classification-dataset';
export { FASHION_MNIST_SPLITS, classificationProtocol, classificationSplits, imageFolderProtocol, loadClassificationSplit } from './classification-dataset';
export type { SyntheticDataset, SyntheticDatasetOptions } from './synthetic-dataset';
export { writeSyntheticDataset } from './synthetic-dataset';

export type { VisualQueryConfig, VisualQueryConfigInput } from './config';
export { resolveVisualQueryConfig } from './config';
export type { FrozenFeatures, QueryPassContext, VisualQueryTuning } from './visual-query-tuning';
export { QUERY_TUNING_DEFINITIONS, VQT_DEFINITION, VqtMethod, createVisualQueryTuning, disposeFrozen, queryTrainingForward } from './visual-query-tuning';
export { VQT_OFFICIAL_NAMES } from './official-names';
export type { GroupLassoOptions, GroupLassoResult } from './group-lasso';
export { compressWithGroupLasso, extractQueryFeatures } from './group-lasso';

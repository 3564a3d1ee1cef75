export type { ChannelScore, ChannelSelection, SalientChannelConfig, SalientChannelConfigInput, TuningPosition } from './config';
export { resolveSalientChannelConfig, tunedBlocks, tunedPositions } from './config';
export type { ChannelImportance } from './channel-importance';
export { computeChannelImportance, importanceToJson, selectChannels } from './channel-importance';
export type { ChannelSelectionMap, SalientChannelTuning } from './salient-channel-tuning';
export { CHANNEL_TUNING_DEFINITIONS, ChannelsNotSelectedError, SCT_DEFINITION, SctMethod, createSalientChannelTuning } from './salient-channel-tuning';
export { SCT_OFFICIAL_NAMES, withOfficialChannelIndices } from './official-names';
export type { ChannelDeletion, ChannelDeletionRow } from './channel-deletion';
export { createChannelDeletion, runChannelDeletionTest } from './channel-deletion';

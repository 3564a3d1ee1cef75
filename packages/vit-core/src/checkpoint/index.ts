export type { HostData, HostDType, HostTensor, StateDict } from './host-tensor';
export { float32Tensor, fromHostTensor, shapeSize, toHostTensor } from './host-tensor';
export type { SafetensorsContents } from './safetensors';
export { parseSafetensors, serializeSafetensors } from './safetensors';
export { parseNpy, serializeNpy } from './npy';
export type { GoogleVitConversion } from './google-vit';
export { convertGoogleVit } from './google-vit';
export type { OfficialNames, OfficialTensor } from './official-names';
export { fromOfficialNames, officialDim, officialName, toOfficialNames } from './official-names';

export type { HostData, HostDType, HostTensor, StateDict } from './host-tensor';
export { checkFinite } from './finite';
export { float32Tensor, fromHostTensor, shapeSize, toHostTensor } from './host-tensor';
export type { SafetensorsContents } from './safetensors';
export { parseSafetensors, serializeSafetensors } from './safetensors';
export { parseNpy, serializeNpy } from './npy';
export type { GoogleVitConversion } from './google-vit';
export { convertGoogleVit } from './google-vit';

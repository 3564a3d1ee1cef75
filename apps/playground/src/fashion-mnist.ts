import { FormatError } from '@visual-peft/vit-core';

/** Label order of Fashion-MNIST (Xiao, Rasul and Vollgraf 2017). */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

/**
 * The classes the demo backbones never saw in pretraining (Sandal, Shirt, Sneaker, Bag, Ankle boot):
 * the benchmark demo's `fmnist-unseen` task, relabelled 0..4 in this order.
 */
export const UNSEEN_CLASSES = [5, 6, 7, 8, 9] as const;

/** One 28x28 grayscale image of the IDX files, with its relabelled class and its record in the file. */
export interface GrayImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly label: number;
  readonly record: number;
}

/** Bytes of a `.gz` file; a server that already sent it with `Content-Encoding: gzip` gives the plain bytes, kept as they are. */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An IDX file of unsigned bytes (type 0x08): its dimensions and data (LeCun's MNIST format). */
export function parseIdx(bytes: Uint8Array, source: string): { dims: number[]; data: Uint8Array } {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new FormatError(source, 'is not an IDX file (magic must start with two zero bytes)');
  if (bytes[2] !== 0x08) throw new FormatError(source, `holds IDX type 0x${bytes[2]!.toString(16)}, only unsigned bytes (0x08) are read`);
  const rank = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * rank) throw new FormatError(source, `is shorter than its ${rank} dimensions`);
  const dims = Array.from({ length: rank }, (_, axis) => view.getUint32(4 + 4 * axis, false));
  const size = dims.reduce((product, dim) => product * dim, 1);
  const data = bytes.subarray(4 + 4 * rank);
  if (data.length !== size) throw new FormatError(source, `holds ${data.length} bytes of data, its dimensions [${dims.join(', ')}] need ${size}`);
  return { dims, data };
}

/**
 * The unseen classes' images of one IDX pair (images, labels), at most `perClass` of each class
 * in the file's order, relabelled 0..4.
 */
export function unseenImages(images: { dims: number[]; data: Uint8Array }, labels: { dims: number[]; data: Uint8Array }, perClass: number, source: string): GrayImage[] {
  const [count = 0, height = 0, width = 0] = images.dims;
  if (images.dims.length !== 3) throw new FormatError(source, `images must be [count, rows, columns], got [${images.dims.join(', ')}]`);
  if (labels.dims.length !== 1 || labels.dims[0] !== count) throw new FormatError(source, `needs one label per image (${count}), got [${labels.dims.join(', ')}]`);
  const taken = new Map<number, number>();
  const result: GrayImage[] = [];
  for (let record = 0; record < count; record++) {
    const label = (UNSEEN_CLASSES as readonly number[]).indexOf(labels.data[record]!);
    if (label < 0 || (taken.get(label) ?? 0) >= perClass) continue;
    taken.set(label, (taken.get(label) ?? 0) + 1);
    result.push({ pixels: images.data.subarray(record * width * height, (record + 1) * width * height), width, height, label, record });
  }
  return result;
}

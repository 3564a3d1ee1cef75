import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

/**
 * How many bytes at the end of a file are read to find its end marker when the file does not end
 * with it. A JPEG's EOI or a PNG's IEND followed by fewer trailing bytes than this is found without
 * reading more.
 */
export const TAIL_BYTES = 64 * 1024;

/** Up to `length` bytes at `position` (fewer at the end of the file). */
async function bytesAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.max(0, length));
  const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
  return buffer.subarray(0, bytesRead);
}

const cut = (what: string, start: number, length: number, size: number) =>
  `cut short: its ${what} at byte ${start} needs ${length} bytes, the file ends ${size - start} bytes after it`;

/**
 * JPEG (ITU-T T.81 B.2): every image ends with EOI (FF D9) after its scans; libjpeg warns without it
 * ("premature end of JPEG image"), which the decode (sharp's `failOn: 'warning'`) refuses. Inside scan data a FF byte is only ever followed by 00
 * (stuffing), a restart marker (D0-D7) or another FF, so FF D9 after the first scan's start is the
 * EOI. Bytes after the EOI occur (camera trailers, a Motion Photo's video) and are not refused.
 */
const EOI = Buffer.from([0xff, 0xd9]);

async function jpegEnd(file: FileHandle, size: number): Promise<string | null> {
  // The marker segments before the first scan carry their lengths: a few small reads find it.
  let position = 2;
  let scanStart = -1;
  while (scanStart < 0) {
    const head = await bytesAt(file, position, 4);
    if (head.length < 2) return `cut short: the file ends after ${size} bytes, inside its header, before any image data (no start-of-scan marker)`;
    if (head[0] !== 0xff) return null; // not a marker: the decoder's header check judges this file
    const marker = head[1]!;
    if (marker === 0xff) {
      position += 1; // fill byte before a marker
      continue;
    }
    if (marker === 0xd9) return null; // EOI before any scan: no image, which the header check reports
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      position += 2; // markers without a length
      continue;
    }
    if (head.length < 4) return `cut short: the file ends after ${size} bytes, inside its header, before any image data (no start-of-scan marker)`;
    const next = position + 2 + head.readUInt16BE(2);
    if (marker === 0xda) scanStart = next;
    else position = next;
  }
  if (scanStart >= size) return `cut short: the file ends after ${size} bytes, right after its header, before any image data`;
  // Most files end with their EOI: two bytes tell. Otherwise up to TAIL_BYTES are searched.
  if (size - 2 >= scanStart && (await bytesAt(file, size - 2, 2)).equals(EOI)) return null;
  const from = Math.max(scanStart, size - TAIL_BYTES);
  const tail = await bytesAt(file, from, size - from);
  let scanLike = false;
  let otherMarker = false;
  for (let index = 0; index + 1 < tail.length; index += 1) {
    if (tail[index] !== 0xff) continue;
    const next = tail[index + 1]!;
    if (next === 0xd9) return null;
    if (next === 0x00) scanLike = true;
    else if (next !== 0xff && (next < 0xd0 || next > 0xd7)) otherMarker = true;
  }
  // Without an EOI in the bytes read: when they reach back to the first scan, or read as scan data
  // (FF only followed by 00, FF, RSTn), the file was cut inside its image data. Other bytes may be a
  // trailer longer than TAIL_BYTES after the EOI, or the headers of a progressive JPEG's later scans;
  // telling them apart would mean reading the whole file, so they pass (the full decode tells).
  if (from === scanStart || (scanLike && !otherMarker)) return `cut short: no end-of-image marker (FF D9) after its image data (the file ends after ${size} bytes)`;
  return null;
}

/**
 * PNG (ISO/IEC 15948 5.6): IEND is the last chunk; libspng decodes a file cut after its last image
 * row, so only this check refuses it. Bytes after IEND are not refused (decoders ignore them). The
 * IEND chunk (length 0, type, fixed CRC) is looked for in the tail; when it is not there, the chunks
 * are walked from the signature by their lengths (eight bytes read per chunk) to say which one is cut,
 * or to find an IEND followed by more than TAIL_BYTES.
 */
const IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

async function pngEnd(file: FileHandle, size: number): Promise<string | null> {
  // Most files end with their IEND chunk: its twelve bytes tell. Otherwise up to TAIL_BYTES are searched.
  if (size >= 8 + IEND.length && (await bytesAt(file, size - IEND.length, IEND.length)).equals(IEND)) return null;
  const from = Math.max(8, size - TAIL_BYTES);
  if ((await bytesAt(file, from, size - from)).includes(IEND)) return null;
  let position = 8;
  while (position + 12 <= size) {
    const header = await bytesAt(file, position, 8);
    const type = header.subarray(4, 8).toString('latin1');
    if (type === 'IEND') return null;
    const length = 12 + header.readUInt32BE(0);
    if (position + length > size) return cut(`${type} chunk`, position, length, size);
    position += length;
  }
  return `cut short: no IEND chunk, the file ends after ${size} bytes${position < size ? `, inside the chunk at byte ${position}` : ''}`;
}

/** ISO base media file format top-level boxes (ISO/IEC 14496-12) that an AVIF or HEIF file holds. */
const TOP_LEVEL_BOXES = new Set(['ftyp', 'meta', 'mdat', 'moov', 'free', 'skip', 'uuid', 'wide', 'pdin', 'styp', 'sidx', 'moof', 'mfra', 'meco']);

/**
 * AVIF and HEIF (ISO/IEC 14496-12 4.2): the top-level boxes carry their sizes, and the image data
 * (`mdat`) is one of them, so each box is checked to end within the file (eight or sixteen bytes
 * read per box; a file has a handful). A box of size 0 runs to the end of the file; bytes that do not
 * start a known top-level box are taken for a trailer, as the decoder ignores them.
 */
async function isoBoxesEnd(file: FileHandle, size: number): Promise<string | null> {
  let position = 0;
  while (position + 8 <= size) {
    const header = await bytesAt(file, position, 16);
    const type = header.subarray(4, 8).toString('latin1');
    if (!TOP_LEVEL_BOXES.has(type)) return null;
    const declared = header.readUInt32BE(0);
    if (declared === 0) return null;
    if (declared === 1 && header.length < 16) return cut(`${type} box's 64-bit size`, position, 16, size);
    const length = declared === 1 ? Number(header.readBigUInt64BE(8)) : declared;
    if (position + length > size) return cut(`${type} box`, position, length, size);
    position += Math.max(8, length);
  }
  return null;
}

/** Bytes per value of each TIFF field type (TIFF 6.0 section 2, BigTIFF's 16-18); others are skipped. */
const TIFF_TYPE_BYTES: Readonly<Record<number, number>> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };
/** StripOffsets with StripByteCounts, TileOffsets with TileByteCounts. */
const TIFF_PIECES = [
  [273, 279, 'strip'],
  [324, 325, 'tile'],
] as const;

/**
 * TIFF and BigTIFF (TIFF 6.0 section 2): the first image directory (the page sharp reads) gives the
 * offset and length of every strip or tile of image data and of every value too long to sit in its
 * entry, so each is checked to end within the file from the directory alone, without reading the
 * data. A directory written after the data (libtiff does) that was cut off fails the header read.
 */
async function tiffEnd(file: FileHandle, size: number, magic: Buffer): Promise<string | null> {
  const little = magic[0] === 0x49;
  const big = (little ? magic.readUInt16LE(2) : magic.readUInt16BE(2)) === 43;
  const uint = (bytes: Buffer, at: number, width: number): number => {
    if (width === 1) return bytes[at]!;
    if (width === 2) return little ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at);
    if (width === 4) return little ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
    return Number(little ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at));
  };
  const [countBytes, entryBytes, fieldBytes] = big ? [8, 20, 8] : [2, 12, 4];
  const directory = uint(magic, big ? 8 : 4, big ? 8 : 4);
  if (directory + countBytes > size) return cut('image directory', directory, countBytes, size);
  const count = uint(await bytesAt(file, directory, countBytes), 0, countBytes);
  const entriesLength = countBytes + count * entryBytes;
  if (directory + entriesLength > size) return cut('image directory', directory, entriesLength, size);
  const entries = await bytesAt(file, directory + countBytes, count * entryBytes);
  /** Each entry's values as numbers (for the strip and tile tags), read where they are. */
  const values = new Map<number, number[]>();
  for (let index = 0; index < count; index += 1) {
    const at = index * entryBytes;
    const [tag, type] = [uint(entries, at, 2), uint(entries, at + 2, 2)];
    const width = TIFF_TYPE_BYTES[type];
    if (width === undefined) continue;
    const number = uint(entries, at + 4, big ? 8 : 4);
    const length = number * width;
    const inline = length <= fieldBytes;
    const offset = inline ? 0 : uint(entries, at + 4 + (big ? 8 : 4), fieldBytes);
    if (!inline && offset + length > size) return cut(`tag ${tag}'s value`, offset, length, size);
    if (TIFF_PIECES.some((piece) => piece[0] === tag || piece[1] === tag) && [3, 4, 16].includes(type)) {
      const bytes = inline ? entries.subarray(at + 4 + (big ? 8 : 4), at + entryBytes) : await bytesAt(file, offset, length);
      values.set(tag, Array.from({ length: number }, (_, item) => uint(bytes, item * width, width)));
    }
  }
  for (const [offsetsTag, countsTag, name] of TIFF_PIECES) {
    const [offsets, counts] = [values.get(offsetsTag) ?? [], values.get(countsTag) ?? []];
    for (const [item, start] of offsets.entries()) {
      const length = counts[item] ?? 0;
      if (start + length > size) return cut(`${name} ${item} of ${offsets.length}`, start, length, size);
    }
  }
  return null;
}

/**
 * Whether an image file holds all of itself, read from its header and its last bytes only: what a
 * cut-off download loses and what the decoder's header read does not see. Returns what is missing,
 * or null. JPEG, PNG, AVIF, HEIF and TIFF are checked here; WebP (its RIFF size) and GIF (sharp
 * reads every frame's header) are refused by sharp's header read itself; any other format gets
 * sharp's header read only.
 */
export async function imageEndProblem(path: string): Promise<string | null> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const magic = await bytesAt(file, 0, 16);
    if (magic.length >= 3 && magic[0] === 0xff && magic[1] === 0xd8 && magic[2] === 0xff) return await jpegEnd(file, size);
    if (magic.length >= 8 && magic.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return await pngEnd(file, size);
    if (magic.length >= 12 && magic.subarray(4, 8).toString('latin1') === 'ftyp') return await isoBoxesEnd(file, size);
    const tiff = ['49492a00', '4d4d002a', '49492b00', '4d4d002b'].indexOf(magic.subarray(0, 4).toString('hex'));
    if (tiff >= 0 && magic.length >= (tiff < 2 ? 8 : 16)) return await tiffEnd(file, size, magic);
    return null;
  } finally {
    await file.close();
  }
}

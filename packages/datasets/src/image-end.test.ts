import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { TAIL_BYTES, imageEndProblem } from './image-end';

const directory = mkdtempSync(join(tmpdir(), 'datasets-image-end-'));
const fixture = (path: string) => readFileSync(fileURLToPath(new URL(`./__fixtures__/image-folder/${path}`, import.meta.url)));

/** A seeded noise image, so that the encoders write scan data of every byte value. */
function noise(width: number, height: number): sharp.Sharp {
  const pixels = Buffer.alloc(width * height * 3);
  let state = 12345;
  for (let index = 0; index < pixels.length; index += 1) {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    pixels[index] = (mixed ^ (mixed >>> 14)) >>> 24;
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/**
 * An uncompressed RGB TIFF with its directory before the image data, as Pillow writes it, in 16-row
 * strips: a cut in its data leaves the header whole.
 */
function tiffDirectoryFirst(width: number, height: number, pixels: Buffer): Buffer {
  const rowsPerStrip = 16;
  const strips = Math.ceil(height / rowsPerStrip);
  const entries = 10;
  const bitsAt = 8 + 2 + 12 * entries + 4;
  const offsetsAt = bitsAt + 6;
  const countsAt = offsetsAt + 4 * strips;
  const dataAt = countsAt + 4 * strips;
  const out = Buffer.alloc(dataAt + pixels.length);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(8, 4);
  out.writeUInt16LE(entries, 8);
  // [tag, type (3 SHORT, 4 LONG), count, value or offset]: size, bits per sample (8, 8, 8), no compression,
  // RGB, strip offsets, 3 samples per pixel, rows per strip, strip byte counts, interleaved.
  const fields = [[256, 3, 1, width], [257, 3, 1, height], [258, 3, 3, bitsAt], [259, 3, 1, 1], [262, 3, 1, 2], [273, 4, strips, offsetsAt], [277, 3, 1, 3], [278, 3, 1, rowsPerStrip], [279, 4, strips, countsAt], [284, 3, 1, 1]] as const;
  fields.forEach(([tag, type, count, value], index) => {
    const at = 10 + 12 * index;
    out.writeUInt16LE(tag, at);
    out.writeUInt16LE(type, at + 2);
    out.writeUInt32LE(count, at + 4);
    if (type === 3 && count === 1) out.writeUInt16LE(value, at + 8);
    else out.writeUInt32LE(value, at + 8);
  });
  for (let sample = 0; sample < 3; sample += 1) out.writeUInt16LE(8, bitsAt + 2 * sample);
  for (let strip = 0; strip < strips; strip += 1) {
    const start = strip * rowsPerStrip * width * 3;
    out.writeUInt32LE(dataAt + start, offsetsAt + 4 * strip);
    out.writeUInt32LE(Math.min(rowsPerStrip, height - strip * rowsPerStrip) * width * 3, countsAt + 4 * strip);
  }
  pixels.copy(out, dataAt);
  return out;
}

let written = 0;
async function problemOf(bytes: Uint8Array): Promise<string | null> {
  const path = join(directory, `image-${written++}`);
  writeFileSync(path, bytes);
  return imageEndProblem(path);
}

const cutMessage = (what: string, start: number, length: number, size: number) => `cut short: its ${what} at byte ${start} needs ${length} bytes, the file ends ${size - start} bytes after it`;

/** Cuts inside the header, in the image data and in the last bytes. */
const cuts = (length: number) => [20, Math.floor(length * 0.25), Math.floor(length * 0.5), Math.floor(length * 0.9), length - 2, length - 1];

describe('imageEndProblem', async () => {
  const images: Record<string, Buffer> = {
    'baseline JPEG': await noise(64, 48).jpeg({ quality: 90 }).toBuffer(),
    'progressive JPEG': await noise(64, 48).jpeg({ quality: 90, progressive: true }).toBuffer(),
    'JPEG larger than the tail read': await noise(500, 400).jpeg({ quality: 95 }).toBuffer(),
    'PNG fixture': fixture('sandal/0.png'),
    'PNG larger than the tail read': await noise(250, 250).png().toBuffer(),
    AVIF: await noise(64, 48).avif().toBuffer(),
    // libtiff writes the directory after the image data; 16-row strips make several.
    TIFF: await noise(64, 48).tiff({ compression: 'deflate' }).toBuffer(),
    'TIFF with its directory first': tiffDirectoryFirst(64, 48, await noise(64, 48).raw().toBuffer()),
  };

  it('passes intact files, with or without bytes after their end', async () => {
    // The hand-written TIFF is one the decoder reads whole, and only the end check refuses it cut.
    const tiff = images['TIFF with its directory first']!;
    expect(await sharp(tiff, { failOn: 'warning' }).raw().toBuffer()).toEqual(await noise(64, 48).raw().toBuffer());
    expect((await sharp(tiff.subarray(0, tiff.length - 100), { failOn: 'warning' }).metadata()).width).toBe(64);
    expect(await problemOf(tiff.subarray(0, tiff.length - 100))).toBe(cutMessage('strip 2 of 3', tiff.length - 16 * 64 * 3, 16 * 64 * 3, tiff.length - 100));
    expect(images['JPEG larger than the tail read']!.length).toBeGreaterThan(2 * TAIL_BYTES);
    expect(images['PNG larger than the tail read']!.length).toBeGreaterThan(2 * TAIL_BYTES);
    for (const [name, bytes] of Object.entries(images)) {
      expect([name, await problemOf(bytes)]).toEqual([name, null]);
      expect([name, await problemOf(Buffer.concat([bytes, Buffer.from('trailing bytes after the end')]))]).toEqual([name, null]);
    }
  });

  it('passes a JPEG followed by more than the tail read of other data (a Motion Photo video), and a PNG too', async () => {
    const video = Buffer.concat([Buffer.from('\0\0\0\x18ftypmp42'), (await noise(300, 300).png({ compressionLevel: 9 }).toBuffer()).subarray(8)]);
    expect(video.length).toBeGreaterThan(TAIL_BYTES);
    expect(await problemOf(Buffer.concat([images['baseline JPEG']!, video]))).toBeNull();
    expect(await problemOf(Buffer.concat([images['baseline JPEG']!, Buffer.alloc(2 * TAIL_BYTES)]))).toBeNull();
    expect(await problemOf(Buffer.concat([images['PNG fixture']!, video]))).toBeNull();
  });

  it('refuses every format cut in its header, its image data or its last bytes, and says what is missing', async () => {
    for (const [name, bytes] of Object.entries(images)) {
      for (const cut of cuts(bytes.length)) {
        const problem = await problemOf(bytes.subarray(0, cut));
        expect([name, cut, problem]).toEqual([name, cut, expect.stringMatching(/^cut short: /)]);
      }
    }
    const jpeg = images['baseline JPEG']!;
    expect(await problemOf(jpeg.subarray(0, jpeg.length - 1))).toBe(`cut short: no end-of-image marker (FF D9) after its image data (the file ends after ${jpeg.length - 1} bytes)`);
    const png = images['PNG fixture']!;
    expect(await problemOf(png.subarray(0, png.length - 12))).toBe(`cut short: no IEND chunk, the file ends after ${png.length - 12} bytes`);
    expect(await problemOf(png.subarray(0, 100))).toMatch(/^cut short: its IDAT chunk at byte \d+ needs \d+ bytes, the file ends \d+ bytes after it$/);
    expect(await problemOf(images.AVIF!.subarray(0, 1000))).toMatch(/^cut short: its mdat box at byte \d+ needs \d+ bytes, the file ends \d+ bytes after it$/);
  });

  it('does not take an end marker before the image data for the end (an EXIF thumbnail)', async () => {
    const jpeg = images['baseline JPEG']!;
    // SOI, then an APP1 segment holding a thumbnail's last bytes (FF D9), then the image's own segments.
    const thumbnail = Buffer.from([0xff, 0xe1, 0x00, 0x08, 0x45, 0x78, 0x69, 0x66, 0xff, 0xd9]);
    const withThumbnail = Buffer.concat([jpeg.subarray(0, 2), thumbnail, jpeg.subarray(2)]);
    expect((await sharp(withThumbnail, { failOn: 'warning' }).raw().toBuffer()).length).toBe(64 * 48 * 3);
    expect(await problemOf(withThumbnail)).toBeNull();
    expect(await problemOf(withThumbnail.subarray(0, withThumbnail.length - 100))).toMatch(/^cut short: no end-of-image marker/);
  });

  it('leaves other formats to the header read', async () => {
    expect(await problemOf(Buffer.from('GIF89a, cut'))).toBeNull();
  });
});

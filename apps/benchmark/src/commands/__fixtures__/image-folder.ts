import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/**
 * A small image folder (`root/<class>/<n>.png`, 40 x 40 RGB): each class a colour of its own with
 * per-image noise, so a linear probe can tell them apart. Returns the class names in label order.
 */
export async function writeImageFolder(root: string, classes: readonly string[] = ['apple', 'banana', 'cherry'], perClass = 4): Promise<string[]> {
  const size = 40;
  for (const [label, name] of classes.entries()) {
    await mkdir(join(root, name), { recursive: true });
    for (let index = 0; index < perClass; index++) {
      const pixels = Buffer.alloc(size * size * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = ((i % 3 === label % 3 ? 200 : 40) + ((i * 7 + index * 13) % 31)) & 0xff;
      await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(root, name, `${index}.png`));
    }
  }
  return [...classes].sort();
}

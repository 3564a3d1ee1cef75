import { stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { IMAGE_EXTENSIONS, listImages } from '@visual-peft/datasets';
import { UsageError } from '../errors';

const GLOB_CHARACTERS = /[*?[]/;

/** A glob's path pattern as a regular expression: `**` any folders (or none), `*` and `?` within one name, `[...]` a class. */
function globPattern(pattern: string): RegExp {
  let source = '';
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (pattern.startsWith('**/', index)) {
      source += '(?:[^/]*/)*';
      index += 2;
    } else if (pattern.startsWith('**', index)) {
      source += '.*';
      index += 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const end = pattern.indexOf(']', index + 1);
      if (end < 0) throw new UsageError(`--images ${pattern}: unclosed [ in the pattern`);
      source += `[${pattern.slice(index + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      index = end;
    } else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The image files a glob matches: the folders before its first wildcard are walked, the rest matched. */
async function expandGlob(pattern: string): Promise<string[]> {
  const parts = pattern.split('/');
  const literal = parts.findIndex((part) => GLOB_CHARACTERS.test(part));
  const base = parts.slice(0, literal).join('/') || (pattern.startsWith('/') ? '/' : '.');
  const matcher = globPattern(parts.slice(literal).join('/'));
  const folder = await stat(base).catch(() => null);
  if (folder === null || !folder.isDirectory()) return [];
  return (await listImages(base)).filter((file) => matcher.test(relative(base, file).split(sep).join('/')));
}

/**
 * The image files `--images` names, in the order given: a file as it is (its decoder says whether it
 * is an image), a folder's image files (JPEG, PNG, WebP, ...; subfolders included, in code-point
 * order), a glob's (`photos/*.jpg`, `shots/**\/*.png`). A missing file, an empty folder or a glob
 * matching no image is a `UsageError` naming it.
 */
export async function imageFiles(inputs: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const found = await stat(input).catch(() => null);
    if (found === null && GLOB_CHARACTERS.test(input)) {
      const matched = await expandGlob(input);
      if (matched.length === 0) throw new UsageError(`--images ${input}: matches no image file (${IMAGE_EXTENSIONS.join(', ')})`);
      files.push(...matched);
    } else if (found === null) {
      throw new UsageError(`--images ${input}: no such file or folder`);
    } else if (found.isDirectory()) {
      const images = await listImages(input);
      if (images.length === 0) throw new UsageError(`--images ${input}: the folder holds no image file (${IMAGE_EXTENSIONS.join(', ')})`);
      files.push(...images);
    } else {
      files.push(input);
    }
  }
  return files;
}

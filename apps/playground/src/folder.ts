import { ConfigError } from '@visual-peft/vit-core';

/** Pictures of a dropped or picked folder, one subfolder per class (its name is the class name). */
export interface LabelledFiles {
  readonly classNames: readonly string[];
  readonly files: readonly { readonly file: File; readonly label: number }[];
}

const PICTURE = /\.(png|jpe?g|gif|webp|bmp)$/i;

/**
 * Groups files by their parent folder's name (paths as `a/class/picture.png`): classes and each
 * class's pictures in sorted order, so the training and held-out pictures do not depend on the order
 * a browser lists a folder in.
 */
export function groupByFolder(entries: readonly { readonly path: string; readonly file: File }[]): LabelledFiles {
  const byClass = new Map<string, File[]>();
  for (const { path, file } of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const parts = path.split('/').filter((part) => part !== '');
    if (parts.length < 2 || !PICTURE.test(file.name)) continue;
    const name = parts[parts.length - 2]!;
    byClass.set(name, [...(byClass.get(name) ?? []), file]);
  }
  const classNames = [...byClass.keys()].sort();
  if (classNames.length < 2) throw new ConfigError('folder', classNames, 'must hold at least two subfolders of pictures (one per class)');
  return { classNames, files: classNames.flatMap((name, label) => byClass.get(name)!.map((file) => ({ file, label }))) };
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

/** Every file under a dropped entry, with its path. */
async function walk(entry: FileSystemEntry): Promise<{ path: string; file: File }[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ path: entry.fullPath, file }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const found: { path: string; file: File }[] = [];
  // readEntries returns a directory in chunks until it returns none.
  for (let chunk = await readEntries(reader); chunk.length > 0; chunk = await readEntries(reader)) {
    for (const child of chunk) found.push(...(await walk(child)));
  }
  return found;
}

/** The files of a drop (folders walked). */
export async function droppedFiles(transfer: DataTransfer): Promise<{ path: string; file: File }[]> {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry()).filter((entry): entry is FileSystemEntry => entry !== null);
  return (await Promise.all(entries.map(walk))).flat();
}

/** The files of an `<input type="file" webkitdirectory>`. */
export function pickedFiles(list: FileList): { path: string; file: File }[] {
  return [...list].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

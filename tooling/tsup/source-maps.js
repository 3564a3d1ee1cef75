// @ts-check
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Source maps of a published package: the tarball ships `src/` once, so a map carries no
 * `sourcesContent` (that would ship every source a second time per format) and its `sources` point
 * into that `src/`. Code bundled from dependencies (tfjs-core's gradient modules in a Node build) has
 * no source in the tarball, so its mappings are dropped after the build: the bundled code itself is
 * what a debugger shows for it.
 * @param {import('tsup').Options['entry']} entry
 * @returns {Pick<import('tsup').Options, 'sourcemap' | 'esbuildOptions' | 'onSuccess'>}
 */
export function sourceMapOptions(entry) {
  return {
    sourcemap: true,
    esbuildOptions(options) {
      options.sourcesContent = false;
    },
    // Only this build's own maps: builds of one config array run at once.
    async onSuccess() {
      for (const name of entryNames(entry)) {
        for (const ext of ['.js.map', '.cjs.map']) {
          const file = path.resolve('dist', name + ext);
          if (existsSync(file)) writeFileSync(file, JSON.stringify(pruneSources(JSON.parse(readFileSync(file, 'utf8')), file)));
        }
      }
    },
  };
}

/** @param {import('tsup').Options['entry']} entry */
function entryNames(entry) {
  if (entry === undefined) return ['index'];
  if (Array.isArray(entry)) return entry.map((file) => path.basename(file).replace(/\.[cm]?[jt]sx?$/, ''));
  return Object.keys(entry);
}

/**
 * Keeps the mappings whose source lies in this package (outside node_modules) and turns the
 * others into unmapped segments.
 * @param {{ sources: string[], sourceRoot?: string, sourcesContent?: unknown, mappings: string }} map
 * @param {string} mapFile
 */
export function pruneSources(map, mapFile) {
  const root = process.cwd();
  const keep = map.sources.map((source) => {
    const resolved = path.resolve(path.dirname(mapFile), map.sourceRoot ?? '', source);
    const relative = path.relative(root, resolved);
    return !relative.startsWith('..') && !path.isAbsolute(relative) && !relative.split(path.sep).includes('node_modules');
  });
  /** @type {number[]} */
  const newIndex = [];
  /** @type {string[]} */
  const sources = [];
  map.sources.forEach((source, i) => {
    if (!keep[i]) return;
    newIndex[i] = sources.length;
    sources.push(source);
  });
  // Source maps v3: ';' separates generated lines, ',' segments; each segment is base64 VLQ
  // deltas [column, source, line, column, name?], the column relative within a line, the rest
  // across the file. A one-field segment maps nothing; it is written only to end a mapped one.
  const previous = { source: 0, line: 0, column: 0, name: 0 };
  const written = { source: 0, line: 0, column: 0, name: 0 };
  const mappings = map.mappings
    .split(';')
    .map((line) => {
      let generated = 0;
      let writtenGenerated = 0;
      let lastMapped = false;
      /** @type {string[]} */
      const segments = [];
      for (const segment of line.split(',')) {
        if (segment === '') continue;
        const fields = decodeVlq(segment);
        generated += fields[0];
        let mapped = false;
        /** @type {number[]} */
        const out = [];
        if (fields.length >= 4) {
          previous.source += fields[1];
          previous.line += fields[2];
          previous.column += fields[3];
          if (fields.length === 5) previous.name += fields[4];
          if (keep[previous.source]) {
            mapped = true;
            const source = newIndex[previous.source];
            out.push(source - written.source, previous.line - written.line, previous.column - written.column);
            written.source = source;
            written.line = previous.line;
            written.column = previous.column;
            if (fields.length === 5) {
              out.push(previous.name - written.name);
              written.name = previous.name;
            }
          }
        }
        if (!mapped && !lastMapped) continue;
        segments.push([generated - writtenGenerated, ...out].map(encodeVlq).join(''));
        writtenGenerated = generated;
        lastMapped = mapped;
      }
      return segments.join(',');
    })
    .join(';');
  const { sourcesContent: _dropped, ...rest } = map;
  return { ...rest, sources, mappings };
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** @param {string} segment */
function decodeVlq(segment) {
  /** @type {number[]} */
  const values = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value % 2 === 1 ? -Math.floor(value / 2) : value / 2);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

/** @param {number} value */
function encodeVlq(value) {
  let rest = value < 0 ? -value * 2 + 1 : value * 2;
  let out = '';
  do {
    let digit = rest % 32;
    rest = Math.floor(rest / 32);
    if (rest > 0) digit |= 32;
    out += BASE64[digit];
  } while (rest > 0);
  return out;
}

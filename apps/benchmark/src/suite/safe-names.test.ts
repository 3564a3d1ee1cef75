import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors';
import { suiteJobs } from './job-list';
import { isSafeName, resolveSuite } from './suite-config';

const tinyConfig = fileURLToPath(new URL('../../../../packages/vit-core/src/__fixtures__/tiny-vit/config.json', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-safe-names-'));
let files = 0;

function suiteFile(lines: string[]): string {
  const path = join(directory, `suite-${files++}.yaml`);
  writeFileSync(path, lines.join('\n'));
  return path;
}

const withBackbone = (name: string) => suiteFile(['suite: vtab-1k', 'tasks: [vtab-eurosat]', 'methods: [linear]', 'backbones:', `  - { name: ${JSON.stringify(name)}, config: ${JSON.stringify(tinyConfig)} }`]);

describe('names that become path segments', () => {
  it('keeps to letters, digits and . _ -, starting with a letter or digit, without ..', () => {
    for (const name of ['tiny-vit', 'vit_b16.in21k', 'B2', 'a.b']) expect(isSafeName(name), name).toBe(true);
    for (const name of ['../escape', '..', '.hidden', 'a/b', 'a\\b', 'a..b', '-flag', '', 'a b', 'é']) expect(isSafeName(name), name).toBe(false);
  });

  it('refuses a suite file backbone name that is not one, naming the field, the value and the rule', async () => {
    for (const name of ['../escape', 'a/b', '.', 'x..y']) {
      const path = withBackbone(name);
      const error = await resolveSuite({ suite: path }).catch((caught: unknown) => caught);
      expect(error, name).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(`${path}: backbones[0].name must be a letter or digit followed by letters, digits and . _ - (no .., no / or other characters: it becomes a folder and file name), got ${JSON.stringify(name)}`);
    }
    const { resolved } = await resolveSuite({ suite: withBackbone('tiny.v2') });
    expect(suiteJobs(resolved).map((job) => job.id)).toEqual(['tiny.v2__vtab-eurosat__linear__seed42', 'tiny.v2__vtab-eurosat__linear__seed44', 'tiny.v2__vtab-eurosat__linear__seed82', 'tiny.v2__vtab-eurosat__linear__seed100', 'tiny.v2__vtab-eurosat__linear__seed800'].sort());
  });

  it('refuses a name taken from a command-line file stem that is not one (a usage error)', async () => {
    const error = await resolveSuite({ suite: 'vtab-1k', methods: ['linear'], backbone: { config: tinyConfig, weights: join(directory, '...safetensors') } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^backbone name "\.\." \(the stem of .*\.\.\.safetensors\) must be a letter or digit/);
  });

  it('refuses tasks and methods outside their lists and grammar, so their names never leave the results folder', async () => {
    await expect(resolveSuite({ suite: suiteFile(['suite: vtab-1k', 'tasks: [../escape]', 'methods: [linear]']) })).rejects.toThrow(/tasks\[0\] must be one of vtab-/);
    await expect(resolveSuite({ suite: suiteFile(['suite: vtab-1k', 'methods: [../linear]']) })).rejects.toThrow(/methods\[0\] must be one of linear/);
    await expect(resolveSuite({ suite: 'vtab-1k', methods: ['sct[selection=../x]'], backbone: { config: tinyConfig, weights: null } })).rejects.toThrow(/option selection must be one value of letters, digits and \. _ \+ -/);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_SUITE_DIRS, locateSuiteFile } from './demo-assets';
import { runCli } from './run-cli';

describe('the app’s own suite files', () => {
  it('are found by file name when the working directory has no such file: suites/, then examples/', () => {
    expect(locateSuiteFile('gatedpt-table1-fgvc-mae.yaml')).toBe(join(BUNDLED_SUITE_DIRS[0]!, 'gatedpt-table1-fgvc-mae.yaml'));
    expect(locateSuiteFile('demo-search.yaml')).toBe(join(BUNDLED_SUITE_DIRS[1]!, 'demo-search.yaml'));
  });

  it('never replace a file that exists at the given path, nor a path with a folder, nor an unknown name', () => {
    const own = join(mkdtempSync(join(tmpdir(), 'visual-peft-bench-suite-')), 'demo-search.yaml');
    writeFileSync(own, 'suite: demo\n');
    expect(locateSuiteFile(own)).toBe(own);
    expect(locateSuiteFile('elsewhere/gatedpt-table1-fgvc-mae.yaml')).toBe('elsewhere/gatedpt-table1-fgvc-mae.yaml');
    expect(locateSuiteFile('no-such-suite.yaml')).toBe('no-such-suite.yaml');
  });

  it('plan and report by bare name, and a name found nowhere is one usage line', async () => {
    const plan = await runCli('run', '--suite', 'gatedpt-table1-fgvc-mae.yaml', '--plan');
    expect(plan.code, plan.stderr.join('\n')).toBe(0);
    expect(JSON.parse(plan.stdout.at(-1)!)).toMatchObject({ suite: 'fgvc', jobs: 75 });
    const missing = await runCli('run', '--suite', 'no-such-suite.yaml', '--plan');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toEqual(['visual-peft-bench: --suite no-such-suite.yaml: no such file, here or among the app\'s suite files (a suite is one of demo, fgvc, vtab-1k, ade20k or a .json / .yaml file)']);
  });
});

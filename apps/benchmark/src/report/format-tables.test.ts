import { describe, expect, it } from 'vitest';
import { makeRecord } from './__fixtures__/make-record';
import { csvField, tableToCsv, tableToMarkdown } from './format-tables';
import { buildResultTables } from './result-tables';

const records = [
  makeRecord({ method: 'linear', task: 'fmnist-rotation', value: 0.5, seed: 0 }),
  makeRecord({ method: 'linear', task: 'fmnist-rotation', value: 0.7, seed: 1 }),
  makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.9, seed: 0 }),
  makeRecord({ method: 'linear', task: 'fmnist-unseen', value: 0.8, seed: 1 }),
  makeRecord({ method: 'sct', task: 'fmnist-unseen', value: 0.95, seed: 0, trainable: 370, total: 1_000_370 }),
];

describe('tableToMarkdown', () => {
  it('shows mean ± std, the missing cells as such and how many jobs are missing', () => {
    const markdown = tableToMarkdown(buildResultTables(records)[0]!);
    expect(markdown).toContain('### Demo, tiny: top-1 accuracy (%)');
    expect(markdown).toContain('| Method | fmnist-rotation | fmnist-unseen | Mean | Params (M) | Params (%) |');
    expect(markdown).toContain('| linear | 60.0 ± 14.1 | 85.0 ± 7.1 | 72.5 | 0.0100 | 1.00 |');
    expect(markdown).toContain('| sct | – | 95.0 | – | 0.000370 | 0.0370 |');
    expect(markdown).toContain('3 of 8 jobs (methods x tasks x seeds) have no result yet');
    expect(markdown).toContain('Produced on: wasm (@tensorflow/tfjs-backend-wasm 4.22.0, CPU (WebAssembly, SIMD); tfjs-core 4.22.0; Node v20.19.0).');
  });
});

describe('CSV', () => {
  it('quotes fields holding commas, quotes or line breaks (RFC 4180)', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
  });

  it('writes the table with a std column per task and empty fields for missing results', () => {
    const csv = tableToCsv(buildResultTables([...records, makeRecord({ method: 'lora', task: 'odd, "quoted" task', value: 0.5 })])[0]!);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('method,fmnist-rotation,fmnist-rotation std,fmnist-unseen,fmnist-unseen std,"odd, ""quoted"" task","odd, ""quoted"" task std",Mean,params (M),params (%)');
    expect(lines[1]).toBe('linear,60.00,14.14,85.00,7.07,,,,0.0100,1.0000');
    expect(lines.at(-1)).toBe('');
  });
});

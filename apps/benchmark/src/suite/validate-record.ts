import { basename } from 'node:path';
import { VisualPeftError } from '@visual-peft/vit-core';
import type { ResultRecord } from './result-record';
import { RESULT_SCHEMA, SUITE_NAMES, TASK_GROUPS } from './result-record';

/** A result file that is not a valid record: names the file, the field, the rule and the value. */
export class ResultFileError extends VisualPeftError {
  constructor(
    readonly file: string,
    readonly field: string,
    rule: string,
  ) {
    super(`${file}: ${field} ${rule}`);
  }
}

/** The rule's ", got <value>" tail, short enough for one line. */
function got(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return `, got ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}


/** A field's dotted path; the record's own fields have no prefix. */
const fieldPath = (parent: string, key: string) => (parent === '' ? key : `${parent}.${key}`);

/** Walks one parsed file, checking each field by its dotted path. */
class RecordChecker {
  constructor(private readonly file: string) {}

  fail(field: string, rule: string, value: unknown): never {
    throw new ResultFileError(this.file, field, `${rule}${got(value)}`);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'must be an object', value);
    return value as Record<string, unknown>;
  }

  string(parent: Record<string, unknown>, key: string, field: string): string {
    const value = parent[key];
    if (typeof value !== 'string' || value === '') this.fail(fieldPath(field, key), 'must be a non-empty string', value);
    return value;
  }

  number(parent: Record<string, unknown>, key: string, field: string, rule: { min?: number; max?: number; integer?: boolean } = {}): number {
    const value = parent[key];
    const path = fieldPath(field, key);
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(path, 'must be a finite number', value);
    if (rule.integer === true && !Number.isInteger(value)) this.fail(path, 'must be an integer', value);
    if (rule.min !== undefined && value < rule.min) this.fail(path, `must be >= ${rule.min}`, value);
    if (rule.max !== undefined && value > rule.max) this.fail(path, `must be <= ${rule.max}`, value);
    return value;
  }

  oneOf<T extends string>(parent: Record<string, unknown>, key: string, field: string, choices: readonly T[]): T {
    const value = parent[key];
    if (!(choices as readonly unknown[]).includes(value)) this.fail(fieldPath(field, key), `must be one of ${choices.join(', ')}`, value);
    return value as T;
  }

  numberList(value: unknown, field: string): void {
    if (!Array.isArray(value)) this.fail(field, 'must be an array of numbers', value);
    value.forEach((entry, index) => {
      if (typeof entry !== 'number' || !Number.isFinite(entry)) this.fail(`${field}[${index}]`, 'must be a finite number', entry);
    });
  }
}

/** Checks a parsed result file against ResultRecord; the first broken field ends it with a ResultFileError. */
export function validateResultRecord(value: unknown, file: string): ResultRecord {
  // Annotated, so that TypeScript treats check.fail (never returns) as ending the branch.
  const check: RecordChecker = new RecordChecker(file);
  const record = check.object(value, 'record');
  if (record.schema !== RESULT_SCHEMA) check.fail('schema', `must be ${JSON.stringify(RESULT_SCHEMA)}`, record.schema);
  check.oneOf(record, 'suite', '', SUITE_NAMES);
  check.string(record, 'suiteHash', '');
  check.string(record, 'finishedAt', '');

  const job = check.object(record.job, 'job');
  for (const key of ['id', 'method', 'task', 'backbone']) check.string(job, key, 'job');
  check.oneOf(job, 'group', 'job', TASK_GROUPS);
  check.number(job, 'seed', 'job', { integer: true });
  // The store's name for the job is its file name: a renamed or copied file would count a job twice.
  const stem = basename(file).replace(/\.json$/, '');
  if (job.id !== stem) check.fail('job.id', `must equal the file name ${JSON.stringify(stem)}`, job.id);

  const protocol = check.object(record.protocol, 'protocol');
  if (!Array.isArray(protocol.grid) || protocol.grid.length === 0) check.fail('protocol.grid', 'must be a non-empty array', protocol.grid);
  protocol.grid.forEach((entry: unknown, index: number) => {
    const field = `protocol.grid[${index}]`;
    const point = check.object(entry, field);
    check.number(point, 'learningRate', field, { min: 0 });
    check.number(point, 'weightDecay', field, { min: 0 });
    if (point.score !== null) check.number(point, 'score', field, { min: 0, max: 1 });
    if (point.failure !== null && typeof point.failure !== 'string') check.fail(`${field}.failure`, 'must be a string or null', point.failure);
  });
  const chosen = check.object(protocol.chosen, 'protocol.chosen');
  check.number(chosen, 'learningRate', 'protocol.chosen', { min: 0 });
  check.number(chosen, 'weightDecay', 'protocol.chosen', { min: 0 });
  const searchSplits = check.object(protocol.searchSplits, 'protocol.searchSplits');
  check.string(searchSplits, 'train', 'protocol.searchSplits');
  check.string(searchSplits, 'validation', 'protocol.searchSplits');
  const finalSplits = check.object(protocol.finalSplits, 'protocol.finalSplits');
  check.string(finalSplits, 'train', 'protocol.finalSplits');
  check.string(finalSplits, 'test', 'protocol.finalSplits');
  check.number(protocol, 'epochs', 'protocol', { min: 0, integer: true });
  if (protocol.iterations !== undefined) check.number(protocol, 'iterations', 'protocol', { min: 1, integer: true });
  check.number(protocol, 'batchSize', 'protocol', { min: 1, integer: true });
  check.string(protocol, 'optimizer', 'protocol');
  check.object(protocol.options, 'protocol.options');

  const metric = check.object(record.metric, 'metric');
  check.oneOf(metric, 'name', 'metric', ['top1', 'mIoU']);
  check.number(metric, 'value', 'metric', { min: 0, max: 1 });

  const parameters = check.object(record.parameters, 'parameters');
  for (const key of ['total', 'trainable', 'extra', 'trainableBackbone']) check.number(parameters, key, 'parameters', { min: 0, integer: true });
  if ((parameters.trainable as number) > (parameters.total as number)) check.fail('parameters.trainable', `must be <= parameters.total (${parameters.total as number})`, parameters.trainable);

  const timing = check.object(record.timing, 'timing');
  for (const key of ['seconds', 'stepSeconds', 'peakBytes']) check.number(timing, key, 'timing', { min: 0 });
  if (timing.microBatch !== undefined) check.number(timing, 'microBatch', 'timing', { min: 1, max: protocol.batchSize as number, integer: true });
  if (timing.recompute !== undefined && typeof timing.recompute !== 'boolean') check.fail('timing.recompute', 'must be true or false', timing.recompute);

  const diagnostics = check.object(record.diagnostics, 'diagnostics');
  for (const key of ['gateSelectionRatios', 'temperatures', 'nmiPerEpoch', 'queryBlockImportance']) {
    if (diagnostics[key] !== undefined) check.numberList(diagnostics[key], `diagnostics.${key}`);
  }
  for (const key of ['salientChannels', 'channelScores']) {
    const perBlock = diagnostics[key];
    if (perBlock === undefined) continue;
    if (!Array.isArray(perBlock)) check.fail(`diagnostics.${key}`, 'must be an array (one list per block)', perBlock);
    perBlock.forEach((block: unknown, index: number) => check.numberList(block, `diagnostics.${key}[${index}]`));
  }

  const environment = check.object(record.environment, 'environment');
  for (const key of ['backend', 'backendPackage', 'backendVersion', 'device', 'tfjsCoreVersion', 'node', 'hostname']) check.string(environment, key, 'environment');
  const packages = check.object(environment.packages, 'environment.packages');
  for (const key of Object.keys(packages)) check.string(packages, key, 'environment.packages');
  return value as ResultRecord;
}

import { basename } from 'node:path';
import type { Diagnostic } from '@visual-peft/vit-core';
import { DIAGNOSTIC_KINDS, VisualPeftError } from '@visual-peft/vit-core';
import type { Diagnostics, EpochDiagnostics, LegacyDiagnostics, ResultRecord } from './result-record';
import { PREVIOUS_RESULT_SCHEMA, RESULT_SCHEMA, SUITE_NAMES, TASK_GROUPS, weightsFolder } from './result-record';
import { BACKBONE_FAMILIES } from './recipes';

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

  numberList(value: unknown, field: string, rule: { min?: number; integer?: boolean } = {}): void {
    if (!Array.isArray(value)) this.fail(field, 'must be an array of numbers', value);
    value.forEach((entry, index) => {
      if (typeof entry !== 'number' || !Number.isFinite(entry)) this.fail(`${field}[${index}]`, 'must be a finite number', entry);
      if (rule.integer === true && !Number.isInteger(entry)) this.fail(`${field}[${index}]`, 'must be an integer', entry);
      if (rule.min !== undefined && entry < rule.min) this.fail(`${field}[${index}]`, `must be >= ${rule.min}`, entry);
    });
  }

  /** A list of number lists, one per block. */
  perBlockLists(value: unknown, field: string, rule: { min?: number; integer?: boolean } = {}): void {
    if (!Array.isArray(value)) this.fail(field, 'must be an array (one list per block)', value);
    value.forEach((block: unknown, index: number) => this.numberList(block, `${field}[${index}]`, rule));
  }
}

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** Checks schema 2's diagnostics: epochs ascending, each method's records of a known kind, names unique within it. */
function checkDiagnostics(check: RecordChecker, value: unknown): void {
  if (!Array.isArray(value)) check.fail('diagnostics', 'must be an array (one entry per epoch)', value);
  let previous = -Infinity;
  value.forEach((entry: unknown, index: number) => {
    const field = `diagnostics[${index}]`;
    // -1: collected before the first epoch, with the initial weights.
    const epoch = check.number(check.object(entry, field), 'epoch', field, { min: -1, integer: true });
    if (epoch <= previous) check.fail(`${field}.epoch`, `must be after the previous entry's (${previous})`, epoch);
    previous = epoch;
    const methods = check.object((entry as Record<string, unknown>).methods, `${field}.methods`);
    for (const [method, records] of Object.entries(methods)) {
      const methodField = `${field}.methods.${method}`;
      if (!Array.isArray(records)) check.fail(methodField, 'must be an array of diagnostics', records);
      const names = new Set<string>();
      records.forEach((raw: unknown, position: number) => {
        const at = `${methodField}[${position}]`;
        const record = check.object(raw, at);
        const kind = check.oneOf(record, 'kind', at, DIAGNOSTIC_KINDS);
        const name = check.string(record, 'name', at);
        if (!KEBAB.test(name)) check.fail(`${at}.name`, 'must be kebab-case', name);
        if (names.has(name)) check.fail(`${at}.name`, `must be unique within ${method}`, name);
        names.add(name);
        check.string(record, 'title', at);
        if (kind === 'scalar') check.number(record, 'value', at);
        if (kind === 'per-block') {
          check.number(record, 'firstBlock', at, { min: 0, integer: true });
          check.numberList(record.values, `${at}.values`);
        }
        if (kind === 'channels') {
          check.perBlockLists(record.selected, `${at}.selected`, { min: 0, integer: true });
          if (record.scores !== null) check.perBlockLists(record.scores, `${at}.scores`);
        }
      });
    }
  });
}

/** Checks schema 1's named diagnostics fields. */
function checkLegacyDiagnostics(check: RecordChecker, value: unknown): void {
  const diagnostics = check.object(value, 'diagnostics');
  for (const key of ['gateSelectionRatios', 'temperatures', 'nmiPerEpoch', 'queryBlockImportance']) {
    if (diagnostics[key] !== undefined) check.numberList(diagnostics[key], `diagnostics.${key}`);
  }
  for (const key of ['salientChannels', 'channelScores']) {
    if (diagnostics[key] !== undefined) check.perBlockLists(diagnostics[key], `diagnostics.${key}`);
  }
}

/**
 * Schema 1's named fields as schema 2's records, under the job's method: NMI per epoch as a scalar
 * per epoch; the rest, measured after training, in the last epoch.
 */
export function convertLegacyDiagnostics(legacy: LegacyDiagnostics, method: string, epochs: number): Diagnostics {
  const byEpoch = new Map<number, Diagnostic[]>();
  const add = (epoch: number, record: Diagnostic) => byEpoch.set(epoch, [...(byEpoch.get(epoch) ?? []), record]);
  const last = Math.max(epochs - 1, 0);
  (legacy.nmiPerEpoch ?? []).forEach((value, epoch) => add(epoch, { kind: 'scalar', name: 'prompt-patch-nmi', title: 'prompt-patch NMI of the tokens entering block 1 (SPT, Figure 2)', value }));
  const perBlock = (name: string, title: string, values: readonly number[] | undefined, firstBlock = 0) => {
    if (values !== undefined && values.length > 0) add(last, { kind: 'per-block', name, title, firstBlock, values });
  };
  // Gate l mixes the prompts entering block l (0-based 1 .. L-1), as prompt-methods reports it.
  perBlock('gate-selection-ratio', 'selection ratio of each gated block (GatedPT eq. 10-11, Figure 4)', legacy.gateSelectionRatios, 1);
  perBlock('attention-temperature', 'learned attention temperature of each block (GatedPT)', legacy.temperatures);
  // Schema 1 stored each block's share of the blocks' total (CLS left out): another definition from
  // today's `query-importance`, so it keeps a name of its own and never shares a plot with it.
  perBlock('query-importance-share', "share of the head's weight norm on each block's query features (VQT, schema 1)", legacy.queryBlockImportance);
  const { salientChannels, channelScores } = legacy;
  if ((salientChannels?.length ?? 0) > 0 || (channelScores?.length ?? 0) > 0) {
    add(last, {
      kind: 'channels',
      name: 'salient-channels',
      title: 'channels chosen per block by class-aware importance (SCT, CAIS)',
      selected: salientChannels ?? channelScores!.map(() => []),
      scores: channelScores ?? null,
    });
  }
  return [...byEpoch.entries()].sort(([a], [b]) => a - b).map(([epoch, records]): EpochDiagnostics => ({ epoch, methods: { [method]: records } }));
}

/** Checks a parsed result file against ResultRecord; the first broken field ends it with a ResultFileError. */
export function validateResultRecord(value: unknown, file: string): ResultRecord {
  // Annotated, so that TypeScript treats check.fail (never returns) as ending the branch.
  const check: RecordChecker = new RecordChecker(file);
  const record = check.object(value, 'record');
  if (record.schema !== RESULT_SCHEMA && record.schema !== PREVIOUS_RESULT_SCHEMA) {
    check.fail('schema', `must be ${JSON.stringify(RESULT_SCHEMA)} (or the previous ${JSON.stringify(PREVIOUS_RESULT_SCHEMA)})`, record.schema);
  }
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
  if (protocol.family !== undefined) check.oneOf(protocol, 'family', 'protocol', BACKBONE_FAMILIES);
  if (protocol.head !== undefined) {
    const head = check.object(protocol.head, 'protocol.head');
    check.oneOf(head, 'pool', 'protocol.head', ['token', 'avg']);
    check.oneOf(head, 'norm', 'protocol.head', ['checkpoint', 'from-norm', 'fresh']);
    check.oneOf(head, 'init', 'protocol.head', ['timm', 'vpt', 'torch', 'zeros']);
    if (head.std !== null) check.number(head, 'std', 'protocol.head', { min: 0 });
  }

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

  const legacy = record.schema === PREVIOUS_RESULT_SCHEMA;
  if (legacy) checkLegacyDiagnostics(check, record.diagnostics);
  else checkDiagnostics(check, record.diagnostics);

  // Always the store's own folder for this job: a record never points outside its store.
  if (record.weights !== undefined && record.weights !== weightsFolder(job.id as string)) check.fail('weights', `must be ${JSON.stringify(weightsFolder(job.id as string))} when present`, record.weights);

  const environment = check.object(record.environment, 'environment');
  for (const key of ['backend', 'backendPackage', 'backendVersion', 'device', 'tfjsCoreVersion', 'node', 'hostname']) check.string(environment, key, 'environment');
  const packages = check.object(environment.packages, 'environment.packages');
  for (const key of Object.keys(packages)) check.string(packages, key, 'environment.packages');
  if (!legacy) return value as ResultRecord;
  // An older file reads as today's record; the file itself is left as it is.
  const converted = convertLegacyDiagnostics(record.diagnostics as LegacyDiagnostics, job.method as string, protocol.epochs as number);
  return { ...(value as ResultRecord), schema: RESULT_SCHEMA, diagnostics: converted };
}

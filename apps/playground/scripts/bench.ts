import { ConfigError } from '@visual-peft/vit-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../src/backend-names';
import { BACKEND_ORDER } from '../src/backend-names';
import { UNSEEN_CLASSES } from '../src/fashion-mnist';
import { DEFINITIONS } from '../src/methods';
import type { PageResult } from './page-driver';
import { chromiumFlags, launchChromium, serveSite, trainOnPage, waitForState } from './page-driver';

/*
 * The playground's backends measured: the built page served, headless chromium launched once per
 * backend with `?backend=<name>`, the same steps of the same method trained on the committed
 * Fashion-MNIST subset, one Markdown row per backend.
 */

/** Training images of each unseen class in the committed subset (apps/benchmark/demo/data). */
export const TRAIN_IMAGES_PER_CLASS = 200;

export interface BenchOptions {
  readonly steps: number;
  readonly method: string;
  readonly batch: number;
  readonly backends: readonly BackendName[];
}

export const USAGE = `usage: pnpm --filter @visual-peft/playground bench [--steps N] [--method NAME] [--batch N] [--backends ${BACKEND_ORDER.join(',')}]
  Trains N steps (default 5) of a method (default vpt-shallow) at batch N (default 8) on each backend
  (default all) of the playground in headless chromium, and prints a Markdown table.`;

function positiveInteger(field: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value < 1) throw new ConfigError(field, text, 'must be a positive integer');
  return value;
}

/** The flags of the bench command; unknown or malformed ones raise a ConfigError. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let steps = 5;
  let method = 'vpt-shallow';
  let batch = 8;
  let backends: BackendName[] = [...BACKEND_ORDER];
  for (let index = 0; index < argv.length; index += 2) {
    const [flag, value] = [argv[index]!, argv[index + 1]];
    if (flag === '--steps') steps = positiveInteger('--steps', value);
    else if (flag === '--batch') batch = positiveInteger('--batch', value);
    else if (flag === '--method') {
      if (!DEFINITIONS.some((definition) => definition.name === value)) throw new ConfigError('--method', value, `must be one of ${DEFINITIONS.map((definition) => definition.name).join(', ')}`);
      method = value!;
    } else if (flag === '--backends') {
      const names = (value ?? '').split(',');
      const unknown = names.filter((name) => !(BACKEND_ORDER as readonly string[]).includes(name));
      if (unknown.length > 0) throw new ConfigError('--backends', value, `must be a comma-separated list of ${BACKEND_ORDER.join(', ')}`);
      backends = names as BackendName[];
    } else throw new ConfigError('argument', flag, 'must be one of --steps, --method, --batch, --backends');
  }
  trainingImagesPerClass(steps, batch);
  return { steps, method, batch, backends };
}

/**
 * Training images per class that give exactly `steps` steps of one epoch at `batch` (the page drops
 * the last short batch): the fewest p with floor(classes * p / batch) = steps, which exists for every
 * step count when the batch is at least the number of classes.
 */
export function trainingImagesPerClass(steps: number, batch: number): number {
  const classes = UNSEEN_CLASSES.length;
  const perClass = Math.ceil((steps * batch) / classes);
  if (perClass > TRAIN_IMAGES_PER_CLASS) {
    throw new ConfigError('--steps', steps, `must be at most ${Math.floor((classes * TRAIN_IMAGES_PER_CLASS) / batch)} at batch ${batch}: the committed subset holds ${TRAIN_IMAGES_PER_CLASS} training images per class`);
  }
  if (Math.floor((classes * perClass) / batch) !== steps) {
    throw new ConfigError('--steps', steps, `cannot be trained in one epoch at batch ${batch}: ${classes} classes of ${perClass - 1} images give ${Math.floor((classes * (perClass - 1)) / batch)} steps, of ${perClass} give ${Math.floor((classes * perClass) / batch)} (a batch of at least ${classes} reaches every count)`);
  }
  return perClass;
}

/** One backend's measurement, or why it did not run. */
export interface BenchRow {
  readonly backend: BackendName;
  readonly device: string;
  readonly seconds: number | null;
  readonly steps: number | null;
  readonly finalLoss: number | null;
  readonly accuracy: number | null;
  readonly error: string | null;
}

/** A row from what the page reported after training (or failing to start or train). */
export function benchRow(backend: BackendName, result: PageResult): BenchRow {
  const error = result.state === 'trained' ? null : (result.error ?? `the page stopped in state ${result.state}`);
  return {
    backend,
    device: result.device ?? '',
    seconds: error === null ? (result.stepSeconds ?? null) : null,
    steps: error === null ? (result.steps ?? null) : null,
    finalLoss: error === null ? (result.finalLoss ?? null) : null,
    accuracy: error === null ? (result.accuracies?.at(-1) ?? null) : null,
    error,
  };
}

/** Where the numbers were taken. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly chromium: string;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly date: string;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');
const fixed = (value: number | null, digits: number) => (value === null ? '' : value.toFixed(digits));

/** The Markdown table of the rows and the line that says where, when and how they were taken. */
export function benchTable(options: BenchOptions, rows: readonly BenchRow[], machine: Machine): string {
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' ');
  return [
    `${options.steps} steps of ${options.method} at batch ${options.batch} on the committed Fashion-MNIST subset (demo supervised backbone), ${machine.date}; ` +
      `${machine.cores} cores (${machine.cpu}), Chromium ${machine.chromium} headless; load average (1, 5, 15 min) ${load(machine.loadBefore)} before, ${load(machine.loadAfter)} after.`,
    '',
    '| backend | device (as the page reports it) | seconds | seconds per step | final loss | held-out top-1 | chromium flags |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((row) =>
      row.error === null
        ? `| ${row.backend} | ${cell(row.device)} | ${fixed(row.seconds, 1)} | ${row.seconds === null || row.steps === null ? '' : (row.seconds / row.steps).toFixed(2)} | ${fixed(row.finalLoss, 3)} | ${row.accuracy === null ? '' : `${(100 * row.accuracy).toFixed(0)} %`} | ${chromiumFlags(row.backend).join(' ')} |`
        : `| ${row.backend} | ${cell(row.device)} | did not run: ${cell(row.error)} | | | | ${chromiumFlags(row.backend).join(' ')} |`,
    ),
  ].join('\n');
}

/** Seconds a backend may take to start and to train, at most: SwiftShader's WebGPU took about 13 s a step. */
const START_TIMEOUT_MS = 120_000;
const timeoutFor = (steps: number) => 60_000 + steps * 60_000;

/** Runs the benchmark; returns the exit code (2: bad flags). */
export async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    return 2;
  }
  const perClass = trainingImagesPerClass(options.steps, options.batch);
  const loadBefore = loadavg();
  const out = await mkdtemp(join(tmpdir(), 'playground-bench-'));
  const site = await serveSite(join(out, 'site'));
  const rows: BenchRow[] = [];
  let chromium = '';
  try {
    for (const backend of options.backends) {
      console.error(`${backend}: starting chromium ${chromiumFlags(backend).join(' ')}`.trim());
      const browser = await launchChromium(backend);
      chromium = browser.version();
      try {
        const page = await browser.newPage();
        await page.goto(`${site.url}?backend=${backend}`);
        let result = await waitForState(page, ['ready', 'error'], START_TIMEOUT_MS);
        if (result.state === 'ready') result = await trainOnPage(page, { method: options.method, perClass, epochs: 1, batch: options.batch }, timeoutFor(options.steps));
        const row = benchRow(backend, result);
        console.error(row.error === null ? `${backend}: ${row.steps} steps in ${fixed(row.seconds, 1)} s, final loss ${fixed(row.finalLoss, 3)}` : `${backend}: ${row.error}`);
        rows.push(row);
      } catch (error) {
        // A page that hangs (a timeout) is a row too: the other backends still run.
        rows.push({ backend, device: '', seconds: null, steps: null, finalLoss: null, accuracy: null, error: (error as Error).message.split('\n')[0]! });
      } finally {
        await browser.close();
      }
    }
  } finally {
    await site.close();
    await rm(out, { recursive: true, force: true });
  }
  const machine: Machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, chromium, loadBefore, loadAfter: loadavg(), date: new Date().toISOString().slice(0, 10) };
  console.log(benchTable(options, rows, machine));
  return 0;
}

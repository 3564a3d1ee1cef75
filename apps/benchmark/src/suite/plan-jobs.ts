import { classificationProtocol, loadClassificationSplit } from '@visual-peft/datasets';
import { UsageError } from '../errors';
import { suiteJobs } from './job-list';
import { splitMethodList } from './variants';
import { median } from './job-state';
import type { JobKey, ResultRecord } from './result-record';
import type { ResolvedSuite, SuiteTask } from './suite-config';
import { taskRoot } from './suite-config';

/** Images of a task's search and final training splits; null where they cannot be known without the data. */
export interface TrainSizes {
  readonly search: number;
  readonly final: number;
}

/** Where a method's step time comes from. */
export type StepTimeSource = { readonly kind: 'flag'; readonly seconds: number } | { readonly kind: 'recorded'; readonly seconds: number; readonly records: number };

export interface PlannedJob {
  readonly job: JobKey;
  readonly gridPoints: number;
  /** Epochs of each run (0 for an iteration-based ADE20K run). */
  readonly epochs: number;
  /** Training steps of the whole job (search and final run), as `run` counts them; null without the task's train sizes. */
  readonly steps: number | null;
  readonly stepTime: StepTimeSource | null;
  /** steps x step seconds / 3600, or null without either. */
  readonly hours: number | null;
}

export interface SuiteEstimate {
  readonly jobs: readonly PlannedJob[];
  readonly steps: number;
  readonly hours: number;
  /** Jobs left out of `hours`: no train sizes or no step time. */
  readonly unestimated: number;
}

/** `--step-seconds vpt-deep=0.21,linear=0.05`: a step time per suite method. */
export function parseStepSeconds(value: string | undefined, methods: readonly string[]): Map<string, number> {
  const times = new Map<string, number>();
  if (value === undefined) return times;
  // Commas and `=` inside a variant's brackets belong to its name: `sct[k=8,scale=0.5]=0.2`.
  for (const item of splitMethodList(value)) {
    const match = /^(.+)=([^=\]]+)$/.exec(item.trim());
    const seconds = Number(match?.[2]);
    if (match === null || !Number.isFinite(seconds) || seconds <= 0) {
      throw new UsageError(`--step-seconds must be method=seconds pairs with positive seconds (e.g. vpt-deep=0.2,linear=0.05), got ${JSON.stringify(item)}`);
    }
    const method = match[1]!.trim();
    if (!methods.includes(method)) throw new UsageError(`--step-seconds: ${JSON.stringify(method)} is not a method of the suite (${methods.join(', ')})`);
    if (times.has(method)) throw new UsageError(`--step-seconds gives ${method} twice`);
    times.set(method, seconds);
  }
  return times;
}

/**
 * A task's train sizes: VTAB-1k's protocol splits (and the demo's, drawn by the same rule) hold 800
 * and 1000 images by definition; other datasets' are counted from their split files under `data`.
 */
export async function trainSizes(task: SuiteTask, data: string | undefined): Promise<TrainSizes | null> {
  if (task.dataset === 'ade20k') return null;
  const protocol = classificationProtocol(task.dataset);
  if (protocol.train === 'train800' && protocol.finalTrain === 'train800val200') return { search: 800, final: 1000 };
  if (data === undefined) return null;
  const root = taskRoot(data, task);
  const count = async (split: string | null) => (split === null ? 0 : (await loadClassificationSplit(task.dataset, root, split)).examples.length);
  return { search: await count(protocol.train), final: await count(protocol.finalTrain) };
}

/**
 * The suite's jobs with their training steps, counted as `run` counts them: every grid point on the
 * search split (skipped for a one-point grid), then the final run; ADE20K runs its iterations once.
 * Step time per (method, backbone): `--step-seconds` first, else the median of the recorded ones.
 */
export function planJobs(
  resolved: ResolvedSuite,
  sizes: ReadonlyMap<string, TrainSizes | null>,
  flagTimes: ReadonlyMap<string, number>,
  records: readonly ResultRecord[],
): SuiteEstimate {
  const stepTime = (method: string, backbone: string): StepTimeSource | null => {
    const flag = flagTimes.get(method);
    if (flag !== undefined) return { kind: 'flag', seconds: flag };
    const recorded = records.filter((record) => record.job.method === method && record.job.backbone === backbone && record.timing.stepSeconds > 0).map((record) => record.timing.stepSeconds);
    return recorded.length === 0 ? null : { kind: 'recorded', seconds: median(recorded), records: recorded.length };
  };
  const jobs = suiteJobs(resolved).map((job): PlannedJob => {
    const { recipe } = resolved.methods.find((method) => method.name === job.method)!;
    const gridPoints = recipe.grid.learningRates.length * recipe.grid.weightDecays.length;
    let steps: number | null;
    if (recipe.segmentation !== undefined) {
      steps = recipe.segmentation.iterations;
    } else {
      const size = sizes.get(job.task) ?? null;
      const runSteps = (images: number) => Math.floor(images / recipe.batchSize) * recipe.epochs;
      steps = size === null ? null : (gridPoints > 1 ? gridPoints * runSteps(size.search) : 0) + runSteps(size.final);
    }
    const time = stepTime(job.method, job.backbone);
    return { job, gridPoints, epochs: recipe.epochs, steps, stepTime: time, hours: steps === null || time === null ? null : (steps * time.seconds) / 3600 };
  });
  return {
    jobs,
    steps: jobs.reduce((sum, job) => sum + (job.steps ?? 0), 0),
    hours: jobs.reduce((sum, job) => sum + (job.hours ?? 0), 0),
    unestimated: jobs.filter((job) => job.hours === null).length,
  };
}

function describeSource(source: StepTimeSource | null, method: string): string {
  if (source === null) return `no step time (give --step-seconds ${method}=<s>, or --timings a store that ran it)`;
  // Three significant digits: a median of recorded times reads 0.3, not 0.30000000000000004.
  const seconds = Number(source.seconds.toPrecision(3));
  return source.kind === 'flag' ? `${seconds} s per step (--step-seconds)` : `${seconds} s per step (recorded: median of ${source.records} record${source.records === 1 ? '' : 's'})`;
}

/** The plan as text: one line per job, the count, each (method, backbone)'s step-time source, the estimate. */
export function renderPlan(resolved: ResolvedSuite, hash: string, estimate: SuiteEstimate): string[] {
  const lines = [`suite ${resolved.suite} ${hash} (family ${resolved.family}): plan only, nothing runs`, 'backbone | task | method | seed | grid points | epochs | steps'];
  for (const planned of estimate.jobs) {
    const { job } = planned;
    lines.push(`${job.backbone} | ${job.task} | ${job.method} | ${job.seed} | ${planned.gridPoints} | ${planned.epochs} | ${planned.steps ?? 'unknown (needs --data)'}`);
  }
  lines.push(`${estimate.jobs.length} jobs, ${estimate.steps} training steps${estimate.jobs.some((job) => job.steps === null) ? ' (jobs of unknown size not counted)' : ''}`);
  const seen = new Set<string>();
  for (const planned of estimate.jobs) {
    const key = `${planned.job.method} on ${planned.job.backbone}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`step time of ${key}: ${describeSource(planned.stepTime, planned.job.method)}`);
  }
  lines.push(
    `estimate: ${estimate.hours.toFixed(2)} accelerator hours for ${estimate.jobs.length - estimate.unestimated} of ${estimate.jobs.length} jobs` +
      (estimate.unestimated > 0 ? ` (${estimate.unestimated} without a step time or train size are left out)` : ''),
  );
  return lines;
}

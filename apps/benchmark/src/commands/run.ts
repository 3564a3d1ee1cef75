import { join, resolve } from 'node:path';
import { rm } from 'node:fs/promises';
import { classificationProtocol, loadAde20k, loadClassificationSplit } from '@visual-peft/datasets';
import { FormatError, VisionTransformer, VisualPeftError, readCheckpoint } from '@visual-peft/vit-core';
import { activateBackend, activateSegmentationBackend } from '../activate-backend';
import { BACKEND_OPTION, backendFlag, parseCommandArgs, requireFlag } from '../args';
import { runEnvironment } from '../environment';
import { UsageError } from '../errors';
import { DEMO_DATA_DIR } from '../demo-assets';
import { isDemoTask, loadDemoTask } from '../demo/demo-tasks';
import type { Io } from '../io';
import { processIo } from '../io';
import { withInterrupt } from '../interrupt';
import { lockOutput } from '../output-lock';
import type { MethodEntry } from '../methods';
import type { MicroBatchChoice } from '../step/micro-batch';
import { describeMicroBatch, memoryBudget, microBatchFlag } from '../step/micro-batch';
import { buildMethod, checkRecompute, disposeMethods, findMethod } from '../methods';
import type { OptionValue } from '../set-options';
import { parseShard, shardJobs, suiteJobs } from '../suite/job-list';
import type { ProgressSink } from '../suite/progress';
import { SuiteProgress } from '../suite/progress';
import type { JobKey, ResultRecord } from '../suite/result-record';
import { SUITE_NAMES, weightsFolder } from '../suite/result-record';
import { openStore, readResult, writeResult } from '../suite/result-store';
import type { JobProgress, TaskSplits } from '../suite/run-job';
import { RunInterruptedError, runJob } from '../suite/run-job';
import type { SegmentationSplits } from '../suite/segmentation-job';
import { runSegmentationJob } from '../suite/segmentation-job';
import type { SuiteBackbone, SuitePlan } from '../suite/suite-config';
import { resolveSuite, taskRoot } from '../suite/suite-config';
import { checkSuiteInputs } from '../suite/suite-inputs';
import { checkpointSha256 } from '../suite/input-identity';
import type { BackboneWeights } from '../train-job';
import type { TrainSizes } from '../suite/plan-jobs';
import { parseStepSeconds, planJobs, renderPlan, trainSizes } from '../suite/plan-jobs';
import { readResults } from '../report/read-results';
import { splitMethodList, variantBuildError } from '../suite/variants';

export const RUN_USAGE =
  `run --suite <${SUITE_NAMES.join(' | ')} | suite.json | suite.yaml> --methods <list> --backbone <preset | config.json> [--weights <checkpoint>] ` +
  '[--family supervised|mae|moco-v3] --data <root> --out <dir> [--plan [--step-seconds method=s,...] [--timings <store>]] [--seeds 42,44,82,100,800] [--shard i/n] [--only <job id,...>] [--micro-batch N|auto] [--recompute] [--no-weights] [--backend auto|tensorflow|wasm|cpu]   (--suite demo needs only --out)';

/** A suite file's method options could not build the method. */
export class SuiteOptionError extends VisualPeftError {}

/** For tests and embedding: stop the run, or watch it. */
export interface RunHooks {
  /** Aborting stops after the current training step (the job resumes on the next run). */
  readonly signal?: AbortSignal;
  readonly onJobFinished?: (record: ResultRecord) => void;
  readonly onProgress?: (progress: JobProgress) => void;
  /** Where progress goes. Default: stderr, redrawn when it is a terminal. */
  readonly sink?: ProgressSink;
}

function listFlag(name: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  // A variant's own options (sct[selection=random,scale=0.5]) keep their commas.
  const items = splitMethodList(value);
  if (items.some((item) => item === '')) throw new UsageError(`--${name} must be a comma-separated list without empty entries, got ${JSON.stringify(value)}`);
  return items;
}

function stderrSink(io: Io): ProgressSink {
  const tty = io === processIo && process.stderr.isTTY === true;
  return {
    tty,
    line: (text) => (tty ? process.stderr.write(`\r\x1b[2K${text}\n`) : io.stderr(text)),
    // A terminal that reports no width (0) gets 160 columns.
    redraw: (text) => process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns > 0 ? process.stderr.columns : 160) - 1)}`),
  };
}

/**
 * `--only`: the listed jobs of the suite, by id (e.g. one demo job to check an installation). Jobs
 * are checked before anything loads, so a typo costs no data loading.
 */
export function onlyJobs(jobs: readonly JobKey[], ids: readonly string[] | undefined): JobKey[] {
  if (ids === undefined) return [...jobs];
  const known = new Set(jobs.map((job) => job.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new UsageError(`--only: ${unknown.map((id) => JSON.stringify(id)).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a job of this suite; its jobs: ${[...known].join(', ')}`);
  }
  if (new Set(ids).size !== ids.length) throw new UsageError(`--only must not repeat a job, got ${JSON.stringify(ids.join(','))}`);
  return jobs.filter((job) => ids.includes(job.id));
}

/** Builds every suite method on each backbone once, so a bad option fails now rather than hours in. */
function checkMethodOptions(plan: SuitePlan, entries: ReadonlyMap<string, MethodEntry>): void {
  for (const backbone of plan.resolved.backbones) {
    const model = new VisionTransformer({ ...backbone.config, numClasses: 2 }, { weights: 'zeros' });
    try {
      for (const method of plan.resolved.methods) {
        try {
          disposeMethods(model, buildMethod(entries.get(method.name)!, model, method.recipe.options as Record<string, OptionValue>));
        } catch (error) {
          if (!(error instanceof VisualPeftError)) throw error;
          // A variant's options came from its name: say which variant, option, value and rule.
          if (method.name.includes('[')) throw variantBuildError(method.name, error);
          throw new SuiteOptionError(`options of ${method.name} (${JSON.stringify(method.recipe.options)}): ${error.message}`);
        }
      }
    } finally {
      model.dispose();
    }
  }
}

/** The protocol's splits of every task, read once: a data root without the expected files fails here. */
async function loadTaskSplits(plan: SuitePlan, data: string): Promise<Map<string, TaskSplits | SegmentationSplits>> {
  const splits = new Map<string, TaskSplits | SegmentationSplits>();
  for (const task of plan.resolved.tasks) {
    if (task.dataset === 'ade20k') {
      const root = taskRoot(data, task);
      splits.set(task.task, { train: await loadAde20k(root, 'training'), test: await loadAde20k(root, 'validation') });
      continue;
    }
    if (isDemoTask(task.task)) {
      const demo = await loadDemoTask(task.task, { root: data });
      splits.set(task.task, { train: demo.train800, validation: demo.val200, finalTrain: demo.train800val200, test: demo.test });
      continue;
    }
    const protocol = classificationProtocol(task.dataset);
    const root = taskRoot(data, task);
    const load = (split: string | null) => {
      if (split === null) throw new UsageError(`task ${task.task} has no split for the protocol's search or test`);
      return loadClassificationSplit(task.dataset, root, split);
    };
    splits.set(task.task, {
      train: await load(protocol.train),
      validation: await load(protocol.validation),
      finalTrain: await load(protocol.finalTrain),
      test: await load(protocol.test),
    });
  }
  return splits;
}

/**
 * `--micro-batch` and `--recompute` checked against the suite: a micro-batch of at most the
 * smallest recipe batch, `--recompute` for a suite with a method that back-propagates through the
 * blocks (the others' jobs run without it, and their records say so), and neither for ADE20K, whose segmentation trainer runs whole batches
 * (its heads' BatchNorm statistics are the batch's).
 */
function executionFlags(resolved: SuitePlan['resolved'], microBatch: string | undefined, recompute: boolean): number | 'auto' | undefined {
  if (resolved.suite === 'ade20k' && (microBatch !== undefined || recompute)) {
    throw new UsageError(`--${microBatch === undefined ? 'recompute' : 'micro-batch'} is not available for the ade20k suite: its segmentation trainer runs whole batches (BatchNorm statistics of the batch)`);
  }
  // Applied to each stage that back-propagates through the blocks; refused when none does.
  checkRecompute(recompute, resolved.methods.flatMap(({ recipe }) => [recipe.method, ...(recipe.firstStage === undefined ? [] : [recipe.firstStage.method])]).map(findMethod));
  const smallest = resolved.methods.reduce((least, method) => (method.recipe.batchSize < least.recipe.batchSize ? method : least));
  return microBatchFlag(microBatch, smallest.recipe.batchSize, `${smallest.recipe.batchSize} in the recipe of ${smallest.name}`);
}

/**
 * `run --plan`: the suite's jobs, their steps and an estimate of the accelerator hours, from
 * `--step-seconds` or the step times recorded in a store (`--timings`, else `--out`), which is only
 * read. Nothing runs and nothing is written. (`speed` prints its measurements and writes no file, so
 * its step times reach the plan through --step-seconds.)
 */
async function printPlan(plan: SuitePlan, flags: { 'step-seconds'?: string; timings?: string; out?: string; data?: string }, io: Io): Promise<void> {
  const { resolved, hash } = plan;
  const times = parseStepSeconds(flags['step-seconds'], resolved.methods.map((method) => method.name));
  const store = flags.timings ?? flags.out;
  // Every record of the store, whatever configuration made it: a step time depends on the method, the backbone and the machine.
  const records = store === undefined ? [] : await readResults(resolve(store), { allowEmpty: true });
  const data = flags.data === undefined ? undefined : resolve(flags.data);
  const sizes = new Map<string, TrainSizes | null>();
  for (const task of resolved.tasks) sizes.set(task.task, await trainSizes(task, data));
  const estimate = planJobs(resolved, sizes, times, records);
  renderPlan(resolved, hash, estimate).forEach((line) => io.stdout(line));
  const sources = new Map(estimate.jobs.map(({ job, stepTime }) => [`${job.method} ${job.backbone}`, { method: job.method, backbone: job.backbone, stepSeconds: stepTime?.seconds ?? null, source: stepTime?.kind ?? null }]));
  io.stdout(JSON.stringify({ suite: resolved.suite, hash, jobs: estimate.jobs.length, steps: estimate.steps, hours: estimate.hours, unestimated: estimate.unestimated, stepTimes: [...sources.values()] }));
}

/**
 * Runs a suite (or one shard of it) with the papers' protocol, storing each finished job at once in
 * `<out>/results/`. Running it again skips finished jobs and resumes an interrupted one.
 */
export async function runSuite(args: readonly string[], io: Io, hooks: RunHooks = {}): Promise<void> {
  const flags = parseCommandArgs('run', args, {
    suite: { type: 'string' },
    methods: { type: 'string' },
    backbone: { type: 'string' },
    weights: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    seeds: { type: 'string' },
    shard: { type: 'string' },
    only: { type: 'string' },
    'micro-batch': { type: 'string' },
    recompute: { type: 'boolean' },
    'no-weights': { type: 'boolean' },
    family: { type: 'string' },
    plan: { type: 'boolean' },
    'step-seconds': { type: 'string' },
    timings: { type: 'string' },
    ...BACKEND_OPTION,
  });
  const suite = requireFlag('run', 'suite', flags.suite);
  if (flags.plan !== true && (flags['step-seconds'] !== undefined || flags.timings !== undefined)) throw new UsageError('run: --step-seconds and --timings apply to --plan only');
  if (flags.plan === true && flags.only !== undefined) throw new UsageError('run: --plan estimates the whole suite (or a --shard of it); --only applies to a run');
  const seeds = listFlag('seeds', flags.seeds)?.map((seed) => {
    if (!/^\d+$/.test(seed)) throw new UsageError(`--seeds must be non-negative integers, got ${JSON.stringify(seed)}`);
    return Number(seed);
  });
  if (seeds !== undefined && new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds must not repeat a seed, got ${JSON.stringify(flags.seeds)}`);
  const shard = flags.shard === undefined ? { index: 0, count: 1 } : parseShard(flags.shard);
  if (flags.weights !== undefined && flags.backbone === undefined) throw new UsageError('run: --weights needs --backbone (the config it loads into)');
  const methods = listFlag('methods', flags.methods);
  const preference = backendFlag(flags.backend);

  const plan = await resolveSuite({
    suite,
    ...(methods === undefined ? {} : { methods }),
    ...(seeds === undefined ? {} : { seeds }),
    ...(flags.backbone === undefined ? {} : { backbone: { config: flags.backbone, weights: flags.weights === undefined ? null : resolve(flags.weights) } }),
    ...(flags.family === undefined ? {} : { family: flags.family }),
  });
  const { resolved } = plan;
  if (flags.plan === true) {
    await printPlan(plan, flags, io);
    return;
  }
  const out = resolve(requireFlag('run', 'out', flags.out));
  await lockOutput(out, 'run', io);
  const jobs = shardJobs(onlyJobs(suiteJobs(resolved), listFlag('only', flags.only)), shard);
  // How batches run is no part of the suite's configuration (nor of its hash): a run may resume with other values.
  const recompute = flags.recompute === true;
  const microBatchRequest = executionFlags(resolved, flags['micro-batch'], recompute);
  // The demo reads its committed Fashion-MNIST subset unless --data names a folder with the full release.
  const data = resolve(resolved.suite === 'demo' ? (flags.data ?? DEMO_DATA_DIR) : requireFlag('run', 'data', flags.data));
  const entries = new Map(resolved.methods.map((method) => [method.name, findMethod(method.recipe.method)]));
  const splits = await loadTaskSplits(plan, data);
  const backend = resolved.suite === 'ade20k' ? await activateSegmentationBackend(preference, io) : await activateBackend(preference, io);
  checkMethodOptions(plan, entries);
  // Every checkpoint and data root is checked, and their identity hashed, before suite.json is written.
  const checked = await checkSuiteInputs(plan, data, splits);
  const hash = checked.hash;
  // A store merged from runs of other variants also holds records under those runs' hashes.
  const hashes = await openStore(out, checked.resolved, hash);

  const pending = [];
  for (const job of jobs) if ((await readResult(out, job.id, hashes)) === null) pending.push(job);
  const progress = new SuiteProgress(hooks.sink ?? stderrSink(io), pending.length);
  progress.note(
    `suite ${resolved.suite} ${hash}: ${jobs.length} jobs${shard.count > 1 ? ` in shard ${shard.index}/${shard.count}` : ''}, ` +
      `${jobs.length - pending.length} already finished, ${pending.length} to run`,
  );
  const environment = runEnvironment(backend);
  const microBatch = microBatchRequest === 'auto' ? { auto: await memoryBudget(backend) } : microBatchRequest;
  // One checkpoint at a time: the one of the current job's backbone, read again when the backbone
  // changes (jobs are sorted by id, which starts with the backbone's name) and released before.
  let held = null as { readonly backbone: string; readonly weights: BackboneWeights | null } | null;
  const noted = new Set<string>();
  let ran = 0;
  // One job, in a function of its own: a suspended async function keeps the locals of its last loop
  // iteration (the job's context, its checkpoint) until they are overwritten, and would hold the
  // last checkpoint while it reads the next (src/suite/suite-inputs.test.ts sees it).
  const runPendingJob = async (job: JobKey, position: number, backbone: SuiteBackbone, weights: BackboneWeights | null): Promise<void> => {
    if (weights === null && !noted.has(backbone.name)) {
      noted.add(backbone.name);
      progress.note(`backbone ${backbone.name}: no checkpoint given, randomly initialised (not pretrained)`);
    }
    const method = resolved.methods.find((candidate) => candidate.name === job.method)!;
    const task = resolved.tasks.find((candidate) => candidate.task === job.task)!;
    const workDir = join(out, 'work', job.id);
    // A classification job's final tuned weights stay in the store (predict --run, export --run), unless --no-weights.
    const kept = flags['no-weights'] !== true && method.recipe.segmentation === undefined ? weightsFolder(job.id) : null;
    progress.startJob(job, position);
    const context = {
      job,
      suite: resolved.suite,
      suiteHash: hash,
      recipe: method.recipe,
      entry: entries.get(method.name)!,
      task,
      backbone: backbone.config,
      weights,
      workDir,
      ...(kept === null ? {} : { weightsDir: join(out, kept) }),
      environment,
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
      onProgress: (update: JobProgress) => {
        progress.update(update);
        hooks.onProgress?.(update);
      },
      ...(microBatch === undefined ? {} : { microBatch, onMicroBatch: (choice: MicroBatchChoice) => progress.note(`${job.id}: ${describeMicroBatch(choice)}`) }),
      recompute,
    };
    const taskSplits = splits.get(task.task)!;
    const finished =
      method.recipe.segmentation === undefined
        ? await runJob({ ...context, splits: taskSplits as TaskSplits })
        : await runSegmentationJob({ ...context, splits: taskSplits as SegmentationSplits });
    const record: ResultRecord = kept === null ? finished : { ...finished, weights: kept };
    await writeResult(out, record);
    await rm(workDir, { recursive: true, force: true });
    progress.finishJob(record);
    hooks.onJobFinished?.(record);
  };
  for (const [position, job] of pending.entries()) {
    if (hooks.signal?.aborted === true) throw new RunInterruptedError(`interrupted after ${ran} of ${pending.length} jobs; run the same command again to resume`);
    const backbone = checked.resolved.backbones.find((candidate) => candidate.name === job.backbone)!;
    if (held?.backbone !== backbone.name) {
      held = null; // released before the next is read
      held = { backbone: backbone.name, weights: await readJobWeights(plan.weightPaths.get(backbone.name) ?? null, backbone.sha256 ?? null) };
    }
    await runPendingJob(job, position, backbone, held.weights);
    ran += 1;
  }
  io.stdout(JSON.stringify({ suite: resolved.suite, hash, out, shard: `${shard.index}/${shard.count}`, jobs: jobs.length, ran, skipped: jobs.length - pending.length }));
}

/**
 * A job's backbone checkpoint, read again after the checks. Its SHA-256 (from the hash cache, unless
 * the file changed) must still be the one checked and written into the suite's hash: a checkpoint
 * replaced while the suite runs would otherwise train under the old one's identity.
 */
async function readJobWeights(path: string | null, checkedSha256: string | null): Promise<BackboneWeights | null> {
  if (path === null) return null;
  const sha256 = await checkpointSha256(path);
  if (sha256 !== checkedSha256) throw new FormatError(path, `changed since the checks before the first job (SHA-256 ${checkedSha256} then, ${sha256} now); run the command again to check it anew`);
  return { source: path, stateDict: (await readCheckpoint(path)).stateDict };
}

/** `run` from the command line: the first Ctrl-C stops after the current step (exit 130), a second one at once. */
export async function run(args: readonly string[], io: Io): Promise<void> {
  await withInterrupt(io, 'run: stopping after the current training step (Ctrl-C again to quit at once; finished jobs are stored)', (signal) => runSuite(args, io, { signal }));
}

import type { JobKey, ResultRecord } from './result-record';
import type { JobProgress } from './run-job';

/** Where progress goes: whole lines, and on a terminal a line redrawn in place. */
export interface ProgressSink {
  /** True on a terminal: the bar is redrawn after every step; otherwise plain lines per epoch (CI logs). */
  readonly tty: boolean;
  line(text: string): void;
  /** Replaces the current terminal line (only called when tty). */
  redraw(text: string): void;
}

/** 95 -> "1m35s", 4000 -> "1h06m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, '0')}s`;
  return `${Math.floor(total / 3600)}h${String(Math.floor((total % 3600) / 60)).padStart(2, '0')}m`;
}

/** Plain lines an iteration-based run prints off a terminal (every tenth of the run). */
const ITERATION_LINES = 10;

function bar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * Progress of a suite on stderr. A job's ETA comes from its own pace (steps done this session);
 * the suite's from the mean time of the jobs finished in this session, or, before one has, from the
 * current job's estimate.
 */
export class SuiteProgress {
  private readonly finishedSeconds: number[] = [];
  private jobStarted = 0;
  private jobFirstStep: number | null = null;
  private position = 0;
  private job: JobKey | null = null;

  constructor(
    private readonly sink: ProgressSink,
    private readonly jobs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  startJob(job: JobKey, position: number): void {
    this.job = job;
    this.position = position;
    this.jobStarted = this.now();
    this.jobFirstStep = null;
  }

  /** A step or epoch of the current job. */
  update(progress: JobProgress): void {
    const { event } = progress;
    if (this.jobFirstStep === null) this.jobFirstStep = progress.stepsDone - 1;
    const stepsThisSession = progress.stepsDone - this.jobFirstStep;
    const elapsed = (this.now() - this.jobStarted) / 1000;
    const jobEta = stepsThisSession > 0 ? ((progress.totalSteps - progress.stepsDone) * elapsed) / stepsThisSession : Number.NaN;
    const left = this.jobs - this.position - 1;
    const perJob = this.finishedSeconds.length > 0 ? this.finishedSeconds.reduce((sum, s) => sum + s, 0) / this.finishedSeconds.length : elapsed + jobEta;
    const suiteEta = jobEta + left * perJob;
    const job = this.job!;
    const phase = progress.phase === 'search' ? `search ${progress.point + 1}/${progress.points} (lr ${progress.learningRate}, wd ${progress.weightDecay})` : `final (lr ${progress.learningRate}, wd ${progress.weightDecay})`;
    const where = event.type === 'iteration' ? `iteration ${event.iteration + 1}/${event.iterations}` : `epoch ${event.epoch + 1}/${event.epochs}`;
    const head = `[${this.position + 1}/${this.jobs}] ${job.method} ${job.task} seed ${job.seed}: ${phase} ${where}`;
    const etas = `job ETA ${formatDuration(jobEta)}, suite ETA ${formatDuration(suiteEta)}`;
    if (this.sink.tty) {
      const loss = event.type === 'epoch' ? '' : ` loss ${event.loss.toFixed(4)}`;
      this.sink.redraw(`${head} ${bar(progress.stepsDone / progress.totalSteps)}${loss} | ${etas}`);
    } else if (event.type === 'epoch') {
      this.sink.line(`${head}, train loss ${event.trainLoss.toFixed(4)} | ${etas}`);
    } else if (event.type === 'iteration' && ((event.iteration + 1) % Math.max(1, Math.floor(event.iterations / ITERATION_LINES)) === 0 || event.iteration + 1 === event.iterations)) {
      this.sink.line(`${head}, loss ${event.loss.toFixed(4)} | ${etas}`);
    }
  }

  /** The one-line summary of a finished job. */
  finishJob(record: ResultRecord): void {
    const seconds = (this.now() - this.jobStarted) / 1000;
    this.finishedSeconds.push(seconds);
    const { job, protocol, metric } = record;
    this.sink.line(
      `done [${this.position + 1}/${this.jobs}] ${job.method} ${job.task} seed ${job.seed}: lr ${protocol.chosen.learningRate} wd ${protocol.chosen.weightDecay}, ` +
        `test ${metric.name} ${(100 * metric.value).toFixed(2)}%, ${formatDuration(record.timing.seconds)} (${record.timing.seconds.toFixed(1)} s)`,
    );
  }

  note(text: string): void {
    this.sink.line(text);
  }
}

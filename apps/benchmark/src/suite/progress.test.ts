import type { EpochEvent, StepEvent } from '@visual-peft/training';
import { describe, expect, it } from 'vitest';
import type { ProgressSink } from './progress';
import { SuiteProgress, formatDuration } from './progress';
import type { JobKey, ResultRecord } from './result-record';
import type { JobProgress } from './run-job';

const job: JobKey = { id: 'b__vtab-dtd__vqt__seed42', method: 'vqt', task: 'vtab-dtd', group: 'natural', seed: 42, backbone: 'b' };

function recorder(tty: boolean): ProgressSink & { lines: string[]; redraws: string[] } {
  const lines: string[] = [];
  const redraws: string[] = [];
  return { tty, lines, redraws, line: (text) => lines.push(text), redraw: (text) => redraws.push(text) };
}

function step(stepsDone: number, totalSteps: number): JobProgress {
  const event = { type: 'step', epoch: 0, epochs: 2, step: stepsDone - 1, stepsPerEpoch: 5, globalStep: stepsDone - 1, totalSteps: 10, loss: 1.5 } as StepEvent;
  return { phase: 'search', point: 0, points: 2, learningRate: 0.1, weightDecay: 0, event, stepsDone, totalSteps };
}

describe('SuiteProgress', () => {
  it('formats durations for ETAs', () => {
    expect([formatDuration(5), formatDuration(95), formatDuration(4000), formatDuration(Number.NaN)]).toEqual(['5s', '1m35s', '1h06m', '?']);
  });

  it('redraws a bar with the job’s and the suite’s ETA on a terminal, from the job’s pace and then from finished jobs', () => {
    let now = 0;
    const sink = recorder(true);
    const progress = new SuiteProgress(sink, 3, () => now);
    progress.startJob(job, 0);
    now = 1000;
    progress.update(step(1, 10));
    now = 2000;
    progress.update(step(2, 10));
    // 2 steps in 2 s (the first counted from the job's start): 8 left -> 8 s; the suite: 8 s + 2 jobs x (2 + 8) s.
    expect(sink.redraws.at(-1)).toBe('[1/3] vqt vtab-dtd seed 42: search 1/2 (lr 0.1, wd 0) epoch 1/2 [####................] loss 1.5000 | job ETA 8s, suite ETA 28s');
    now = 30_000;
    progress.finishJob({ job, protocol: { chosen: { learningRate: 0.1, weightDecay: 0 } }, metric: { name: 'top1', value: 0.5 }, timing: { seconds: 30 } } as unknown as ResultRecord);
    expect(sink.lines.at(-1)).toBe('done [1/3] vqt vtab-dtd seed 42: lr 0.1 wd 0, test top1 50.00%, 30s (30.0 s)');
    progress.startJob(job, 1);
    now = 31_000;
    progress.update(step(1, 10));
    // One job left after this one, at the 30 s the finished job took.
    expect(sink.redraws.at(-1)).toMatch(/job ETA 9s, suite ETA 39s$/);
  });

  it('writes plain lines per epoch only when not on a terminal', () => {
    const sink = recorder(false);
    const progress = new SuiteProgress(sink, 1, () => 0);
    progress.startJob(job, 0);
    progress.update(step(1, 10));
    expect(sink.lines).toEqual([]);
    const epoch = { type: 'epoch', epoch: 0, epochs: 2, trainLoss: 0.25 } as EpochEvent;
    progress.update({ ...step(5, 10), phase: 'final', event: epoch });
    expect(sink.lines).toEqual([expect.stringMatching(/^\[1\/1\] vqt vtab-dtd seed 42: final \(lr 0.1, wd 0\) epoch 1\/2, train loss 0.2500 \| job ETA \S+, suite ETA \S+$/)]);
    expect(sink.redraws).toEqual([]);
  });

  it('shows iterations for iteration-based runs, with a plain line every tenth of the run off a terminal', () => {
    const sink = recorder(false);
    const progress = new SuiteProgress(sink, 1, () => 0);
    progress.startJob(job, 0);
    for (let iteration = 0; iteration < 25; iteration++) {
      progress.update({ ...step(iteration + 1, 25), phase: 'final', event: { type: 'iteration', iteration, iterations: 25, loss: 2 } });
    }
    // Every 2 iterations (25 / 10, floored) and the last one.
    expect(sink.lines).toHaveLength(13);
    expect(sink.lines[0]).toMatch(/^\[1\/1\] vqt vtab-dtd seed 42: final \(lr 0.1, wd 0\) iteration 2\/25, loss 2.0000 \| job ETA/);
    expect(sink.lines.at(-1)).toMatch(/ iteration 25\/25, loss 2.0000 /);
    const tty = recorder(true);
    const bar = new SuiteProgress(tty, 1, () => 0);
    bar.startJob(job, 0);
    bar.update({ ...step(5, 10), phase: 'final', event: { type: 'iteration', iteration: 4, iterations: 10, loss: 0.5 } });
    expect(tty.redraws.at(-1)).toMatch(/iteration 5\/10 \[##########..........\] loss 0.5000 \|/);
  });
});

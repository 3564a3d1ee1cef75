import { describe, expect, it } from 'vitest';
import { expectConfigError } from './__fixtures__/expect-error';
import type { ScheduleConfigInput } from './schedule';
import { LearningRateSchedule, resolveScheduleConfig, scaleLearningRate } from './schedule';

function schedule(input: ScheduleConfigInput, epochs: number, stepsPerEpoch: number): LearningRateSchedule {
  return new LearningRateSchedule(resolveScheduleConfig(input, epochs), epochs, stepsPerEpoch);
}

describe('cosine schedule', () => {
  it("per epoch with VPT's warm-up from 0 and a cosine over the epochs after it", () => {
    const vpt = schedule({ kind: 'cosine', warmupEpochs: 10 }, 100, 4);
    const at = (epoch: number, step = 0) => vpt.at(0.1, epoch * 4 + step);
    expect(at(0)).toBe(0); // VPT's first epoch trains at 0 / 10 of the peak
    expect(at(5)).toBeCloseTo(0.05, 15);
    expect(at(5, 3)).toBe(at(5)); // constant within an epoch
    expect(at(10)).toBeCloseTo(0.1, 15); // progress 0: the peak
    expect(at(55)).toBeCloseTo(0.05, 15); // progress 45/90 = 1/2: cos(pi/2) = 0
    expect(at(99)).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * 89) / 90)), 15);
  });

  it("SCT's timm recipe: warm-up from 1e-6, cosine over the whole run to 1e-5", () => {
    const sct = schedule({ kind: 'cosine', warmupEpochs: 10, warmupStartLr: 1e-6, minLr: 1e-5, cosineSpan: 'whole-run' }, 100, 3);
    const at = (epoch: number) => sct.at(1e-3, epoch * 3);
    expect(at(0)).toBe(1e-6);
    expect(at(5)).toBeCloseTo(1e-6 + (5 * (1e-3 - 1e-6)) / 10, 15);
    // timm's warmup_prefix=False: at the end of the warm-up the cosine is already 10/100 of the way.
    expect(at(10)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.cos(Math.PI / 10)), 15);
    expect(at(99)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.cos((Math.PI * 99) / 100)), 15);
    expect(at(99)).toBeGreaterThan(1e-5);
  });

  it("SPT's per-step rule: warm-up over 10 epochs of steps, then a cosine to 1e-8 at every step", () => {
    const spt = schedule({ kind: 'cosine', unit: 'step', warmupEpochs: 10, minLr: 1e-8 }, 100, 5);
    expect(spt.total).toBe(500);
    expect(spt.warmup).toBe(50);
    expect(spt.at(5e-2, 1)).toBeCloseTo(5e-2 / 50, 15);
    expect(spt.at(5e-2, 2)).not.toBe(spt.at(5e-2, 1));
    expect(spt.at(5e-2, 275)).toBeCloseTo(1e-8 + 0.5 * (5e-2 - 1e-8), 15); // (275 - 50) / 450 = 1/2
    expect(spt.at(5e-2, 499)).toBeCloseTo(1e-8 + 0.5 * (5e-2 - 1e-8) * (1 + Math.cos((Math.PI * 449) / 450)), 15);
  });

  it('never rises after the warm-up and never falls below its floor', () => {
    const cosine = schedule({ kind: 'cosine', warmupEpochs: 2, minLr: 1e-4, unit: 'step' }, 7, 3);
    let previous = Infinity;
    for (let step = 6; step < 21; step++) {
      const rate = cosine.at(0.01, step);
      expect(rate).toBeLessThanOrEqual(previous);
      expect(rate).toBeGreaterThanOrEqual(1e-4);
      previous = rate;
    }
  });
});

describe('poly and constant schedules', () => {
  it('poly: (base - floor) * (1 - t / T)^0.9 + floor, per step by default', () => {
    const poly = schedule({ kind: 'poly' }, 1, 160);
    expect(poly.config.unit).toBe('step');
    expect(poly.config.power).toBe(0.9);
    expect(poly.at(1e-3, 0)).toBe(1e-3);
    expect(poly.at(1e-3, 80)).toBeCloseTo(1e-3 * 0.5 ** 0.9, 15);
    const floored = schedule({ kind: 'poly', minLr: 1e-4, power: 2 }, 1, 10);
    expect(floored.at(1e-3, 5)).toBeCloseTo(1e-4 + 9e-4 * 0.25, 15);
  });

  it('constant after a linear warm-up', () => {
    const constant = schedule({ kind: 'constant', warmupEpochs: 2, warmupStartLr: 0.01 }, 5, 2);
    expect(constant.at(0.1, 0)).toBe(0.01);
    expect(constant.at(0.1, 2)).toBeCloseTo(0.055, 15); // epoch 1: halfway from 0.01 to 0.1
    expect(constant.at(0.1, 4)).toBe(0.1);
    expect(constant.at(0.1, 9)).toBe(0.1);
  });
});

describe('learning-rate scaling', () => {
  it('is lr * batch / 256 (VPT, VQT), with another reference on request', () => {
    expect(scaleLearningRate(0.1, 128)).toBe(0.05);
    expect(scaleLearningRate(1, 32, 64)).toBe(0.5);
  });
});

describe('schedule config', () => {
  it('fills the defaults: cosine per epoch from 0 to 0, after the warm-up', () => {
    expect(resolveScheduleConfig(undefined, 10)).toEqual({
      kind: 'cosine',
      unit: 'epoch',
      warmupEpochs: 0,
      warmupStartLr: 0,
      minLr: 0,
      cosineSpan: 'after-warmup',
      power: 0.9,
    });
  });

  it.each([
    [{ kind: 'step' }, 'schedule.kind'],
    [{ unit: 'iteration' }, 'schedule.unit'],
    [{ warmupEpochs: -1 }, 'schedule.warmupEpochs'],
    [{ warmupEpochs: 11 }, 'schedule.warmupEpochs'],
    [{ warmupEpochs: 1.5 }, 'schedule.warmupEpochs'],
    [{ warmupStartLr: -1e-6 }, 'schedule.warmupStartLr'],
    [{ minLr: Number.NaN }, 'schedule.minLr'],
    [{ cosineSpan: 'all' }, 'schedule.cosineSpan'],
    [{ kind: 'poly', power: 0 }, 'schedule.power'],
    [{ warmup: 10 }, 'schedule.warmup'],
  ])('refuses %o naming %s', (input, field) => {
    expectConfigError(() => resolveScheduleConfig(input as ScheduleConfigInput, 10), field);
  });

  it('accepts a fractional warm-up when the schedule moves per step', () => {
    expect(resolveScheduleConfig({ unit: 'step', warmupEpochs: 1.5 }, 10).warmupEpochs).toBe(1.5);
  });
});

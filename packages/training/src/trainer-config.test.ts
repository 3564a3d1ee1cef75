import { describe, expect, it } from 'vitest';
import { expectConfigError } from './__fixtures__/expect-error';
import type { TrainerConfigInput } from './trainer-config';
import { resolveTrainerConfig } from './trainer-config';

const MINIMAL: TrainerConfigInput = { epochs: 10, stepsPerEpoch: 4, optimizer: { kind: 'sgd', learningRate: 0.1 } };

describe('trainer config', () => {
  it('fills every default', () => {
    expect(resolveTrainerConfig(MINIMAL)).toEqual({
      epochs: 10,
      stepsPerEpoch: 4,
      optimizer: { kind: 'sgd', learningRate: 0.1, weightDecay: 0, momentum: 0.9, dampening: 0, nesterov: false },
      schedule: { kind: 'cosine', unit: 'epoch', warmupEpochs: 0, warmupStartLr: 0, minLr: 0, cosineSpan: 'after-warmup', power: 0.9 },
      head: { learningRate: 0.1, weightDecay: 0 },
      decayBiasesAndVectors: false,
      batchScaling: null,
      labelSmoothing: 0,
      clipGradNorm: null,
      ema: null,
      seed: 0,
      evaluateEvery: 1,
      checkpointEvery: 1,
      bestMetric: 'top1',
    });
  });

  it("takes SPT's recipe: AdamW, head decay 0.5, per-step cosine to 1e-8, EMA 0.9999", () => {
    const spt = resolveTrainerConfig({
      epochs: 100,
      stepsPerEpoch: 10,
      optimizer: { kind: 'adamw', learningRate: 5e-2, weightDecay: 1e-2 },
      head: { weightDecay: 0.5 },
      schedule: { kind: 'cosine', unit: 'step', warmupEpochs: 10, minLr: 1e-8 },
      ema: { decay: 0.9999 },
      batchScaling: { batchSize: 32 },
    });
    expect(spt.head).toEqual({ learningRate: 5e-2, weightDecay: 0.5 });
    expect(spt.ema).toEqual({ decay: 0.9999, evaluate: true });
    expect(spt.batchScaling).toEqual({ batchSize: 32, reference: 256 });
  });

  it.each([
    [{ epochs: 0 }, 'epochs'],
    [{ epochs: 2.5 }, 'epochs'],
    [{ stepsPerEpoch: -1 }, 'stepsPerEpoch'],
    [{ optimizer: undefined }, 'optimizer'],
    [{ optimizer: { kind: 'sgd', learningRate: -1 } }, 'optimizer.learningRate'],
    [{ schedule: { warmupEpochs: 11 } }, 'schedule.warmupEpochs'],
    [{ head: { learningRate: 0 } }, 'head.learningRate'],
    [{ head: { weightDecay: -0.5 } }, 'head.weightDecay'],
    [{ head: { lr: 0.1 } }, 'head.lr'],
    [{ decayBiasesAndVectors: 1 }, 'decayBiasesAndVectors'],
    [{ batchScaling: { batchSize: 0 } }, 'batchScaling.batchSize'],
    [{ batchScaling: { batchSize: 64, reference: 0.5 } }, 'batchScaling.reference'],
    [{ batchScaling: 128 }, 'batchScaling'],
    [{ labelSmoothing: 1 }, 'labelSmoothing'],
    [{ clipGradNorm: 0 }, 'clipGradNorm'],
    [{ ema: { decay: 1 } }, 'ema.decay'],
    [{ ema: {} }, 'ema.decay'],
    [{ ema: { decay: 0.9, evaluate: 'yes' } }, 'ema.evaluate'],
    [{ seed: -3 }, 'seed'],
    [{ evaluateEvery: 0 }, 'evaluateEvery'],
    [{ checkpointEvery: 1.5 }, 'checkpointEvery'],
    [{ bestMetric: 'accuracy' }, 'bestMetric'],
    [{ learningRate: 0.1 }, 'config.learningRate'],
  ])('refuses %o naming %s', (change, field) => {
    expectConfigError(() => resolveTrainerConfig({ ...MINIMAL, ...change } as TrainerConfigInput), field);
  });
});

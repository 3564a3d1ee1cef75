// The browser build's Trainer: this file imports no Node entry, so `outputDir` has no file store.
import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { useDisposables } from './__fixtures__/disposables';
import { PROMPT_DEFINITION, imageTask, promptSetup, snapshot } from './__fixtures__/tiny-task';
import { Trainer } from './trainer';
import type { TrainerConfigInput } from './trainer-config';
import type { TrainerStore, TrainingCheckpoint } from './trainer-store';
import type { TunedWeightsManifest } from './tuned-weights';
import { decodeTunedWeights, loadTunedWeightsBytes } from './tuned-weights';

const task = imageTask();
const CONFIG: TrainerConfigInput = {
  epochs: 2,
  stepsPerEpoch: task.stepsPerEpoch,
  optimizer: { kind: 'adamw', learningRate: 0.01, weightDecay: 0.05 },
  ema: { decay: 0.9, evaluate: false },
  seed: 3,
};
const disposables = useDisposables();

/** A store in memory, as a browser app would keep one (IndexedDB, a download). */
class MemoryStore implements TrainerStore {
  readonly location = 'memory';
  checkpoint: TrainingCheckpoint | null = null;
  best: { bytes: Uint8Array; manifest: TunedWeightsManifest } | null = null;
  writes: string[] = [];
  async readCheckpoint(): Promise<TrainingCheckpoint | null> {
    return this.checkpoint;
  }
  async writeCheckpoint(tag: string, checkpoint: TrainingCheckpoint): Promise<string> {
    this.checkpoint = checkpoint;
    this.writes.push(tag);
    return `memory:${tag}`;
  }
  async writeBestWeights(bytes: Uint8Array, manifest: TunedWeightsManifest): Promise<void> {
    this.best = { bytes, manifest };
  }
}

function trainer(): { trainer: Trainer; setup: ReturnType<typeof promptSetup> } {
  const setup = promptSetup();
  const built = new Trainer(setup.model, [setup.method], CONFIG);
  disposables.push(setup.model, setup.method, built);
  return { trainer: built, setup };
}

describe('Trainer stores (browser build)', () => {
  it('refuses outputDir without a file system, and outputDir with a store', async () => {
    const error = await trainer().trainer.fit({ train: task.source, outputDir: 'runs/a' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^outputDir needs a file system.*pass FitOptions\.store/);
    const both = await trainer().trainer.fit({ train: task.source, outputDir: 'runs/a', store: new MemoryStore() }).catch((caught: unknown) => caught);
    expect((both as ConfigError).field).toBe('outputDir');
  });

  it('writes checkpoints and the best weights to a store, and resumes from it bit for bit', async () => {
    const straight = trainer();
    await straight.trainer.fit({ train: task.source, validation: task.source });

    const store = new MemoryStore();
    const stop = new AbortController();
    const first = trainer();
    const stopped = await first.trainer.fit({
      train: task.source,
      validation: task.source,
      store,
      signal: stop.signal,
      onProgress: (event) => {
        if (event.type === 'epoch') {
          expect(event.checkpoint).toBe(`memory:${String(task.stepsPerEpoch).padStart(9, '0')}`);
          stop.abort();
        }
      },
    });
    expect(stopped.status).toBe('stopped');
    expect(store.best).not.toBeNull();
    expect(decodeTunedWeights(store.best!.bytes).manifest).toEqual(store.best!.manifest);

    const second = trainer();
    const resumed = await second.trainer.fit({ train: task.source, store });
    expect(resumed.resumedFrom).toEqual({ epoch: 1, step: task.stepsPerEpoch });
    expect(store.writes).toHaveLength(2);
    expect(snapshot(second.setup.model, second.setup.method)).toEqual(snapshot(straight.setup.model, straight.setup.method));

    // The best weights load into a fresh backbone from bytes alone.
    const fresh = promptSetup();
    disposables.push(fresh.model, fresh.method);
    const methods = loadTunedWeightsBytes(store.best!.bytes, fresh.model, [PROMPT_DEFINITION]);
    disposables.push(...methods);
    expect(methods.map((method) => method.name)).toEqual(['test-prompt']);
  });
});

import type { Diagnostics, ResultRecord, SuiteName, TaskGroup } from '../../suite/result-record';
import { RESULT_SCHEMA } from '../../suite/result-record';

export interface RecordSpec {
  readonly suite?: SuiteName;
  readonly backbone?: string;
  readonly method: string;
  readonly task: string;
  readonly group?: TaskGroup;
  readonly seed?: number;
  /** Test metric in [0, 1]. */
  readonly value: number;
  readonly trainable?: number;
  readonly total?: number;
  readonly diagnostics?: Diagnostics;
  readonly peakBytes?: number;
  readonly stepSeconds?: number;
}

/** A complete, valid result record for hand-built stores in tests. */
export function makeRecord(spec: RecordSpec): ResultRecord {
  const suite = spec.suite ?? 'demo';
  const backbone = spec.backbone ?? 'tiny';
  const seed = spec.seed ?? 0;
  return {
    schema: RESULT_SCHEMA,
    suite,
    suiteHash: 'abc123',
    job: { id: `${backbone}__${spec.task}__${spec.method}__seed${seed}`, method: spec.method, task: spec.task, group: spec.group ?? (suite === 'fgvc' ? 'fgvc' : suite === 'ade20k' ? 'ade20k' : 'demo'), seed, backbone },
    protocol: {
      grid: [
        { learningRate: 0.01, weightDecay: 0, score: 0.5, failure: null },
        { learningRate: 0.1, weightDecay: 0, score: null, failure: 'diverged at epoch 1: loss NaN' },
      ],
      chosen: { learningRate: 0.01, weightDecay: 0 },
      searchSplits: { train: 'train800', validation: 'val200' },
      finalSplits: { train: 'train800val200', test: 'test' },
      epochs: 2,
      batchSize: 8,
      optimizer: 'sgd',
      options: {},
    },
    metric: { name: suite === 'ade20k' ? 'mIoU' : 'top1', value: spec.value },
    parameters: { total: spec.total ?? 1_010_000, trainable: spec.trainable ?? 10_000, extra: 0, trainableBackbone: 0 },
    timing: { seconds: 12, stepSeconds: spec.stepSeconds ?? 0.05, peakBytes: spec.peakBytes ?? 8 * 2 ** 20, microBatch: 4, recompute: false },
    diagnostics: spec.diagnostics ?? [],
    environment: {
      backend: 'wasm',
      backendPackage: '@tensorflow/tfjs-backend-wasm',
      backendVersion: '4.22.0',
      device: 'CPU (WebAssembly, SIMD)',
      tfjsCoreVersion: '4.22.0',
      node: 'v20.19.0',
      packages: { '@visual-peft/vit-core': '0.1.0' },
      hostname: 'test-host',
    },
    finishedAt: '2026-12-05T08:00:00.000Z',
  };
}

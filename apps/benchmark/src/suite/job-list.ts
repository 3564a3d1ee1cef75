import { UsageError } from '../errors';
import type { JobKey } from './result-record';
import type { ResolvedSuite } from './suite-config';
import { variantId } from './variants';

/** Every job of a suite (backbone x task x method x seed), sorted by id. */
export function suiteJobs(suite: ResolvedSuite): JobKey[] {
  const jobs: JobKey[] = [];
  for (const backbone of suite.backbones) {
    for (const task of suite.tasks) {
      for (const method of suite.methods) {
        for (const seed of suite.seeds) {
          jobs.push({ id: `${backbone.name}__${task.task}__${variantId(method.name)}__seed${seed}`, method: method.name, task: task.task, group: task.group, seed, backbone: backbone.name });
        }
      }
    }
  }
  return jobs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** `--shard i/n`: 0-based index i of n shards. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(value: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || count < 1 || index >= count) {
    throw new UsageError(`--shard must be i/n with 0 <= i < n (e.g. 0/4 for the first of four), got ${JSON.stringify(value)}`);
  }
  return { index, count };
}

/**
 * The jobs of one shard: round-robin over the sorted ids, so every machine computes the same split
 * without talking to the others, shards never overlap, and together they cover the suite.
 */
export function shardJobs(jobs: readonly JobKey[], shard: Shard): JobKey[] {
  return jobs.filter((_, position) => position % shard.count === shard.index);
}

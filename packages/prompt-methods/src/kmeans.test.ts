import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kMeans } from './kmeans';
import { SeededRandom } from '@visual-peft/vit-core';

const DIM = 6;
const CENTERS = [
  [5, 0, 0, 0, 0, 0],
  [0, 5, 0, 0, 0, 0],
  [0, 0, -5, 0, 0, 0],
  [0, 0, 0, 5, 5, 0],
];

/** 250 points per center with N(0, 0.5) noise, shuffled; labels alongside. */
function blobs(seed: number): { points: Float32Array; labels: number[] } {
  const random = new SeededRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
  const labels = Array.from({ length: 1000 }, (_, i) => i % 4);
  for (let i = labels.length - 1; i > 0; i--) {
    const j = random.integer(0, i);
    [labels[i], labels[j]] = [labels[j]!, labels[i]!];
  }
  const points = new Float32Array(labels.length * DIM);
  labels.forEach((label, i) => CENTERS[label]!.forEach((c, d) => (points[i * DIM + d] = c + 0.5 * gaussian())));
  return { points, labels };
}

function squaredDistance(a: Float32Array, aRow: number, b: Float32Array, bRow: number): number {
  let sum = 0;
  for (let d = 0; d < DIM; d++) sum += (a[aRow * DIM + d]! - b[bRow * DIM + d]!) ** 2;
  return sum;
}

/** Inertia of the partition by label, each cluster at its mean: the optimum for well-separated blobs. */
function labelInertia(points: Float32Array, labels: number[]): number {
  const means = new Float32Array(4 * DIM);
  const counts = [0, 0, 0, 0];
  labels.forEach((label, i) => {
    counts[label]! += 1;
    for (let d = 0; d < DIM; d++) means[label * DIM + d]! += points[i * DIM + d]!;
  });
  for (let i = 0; i < means.length; i++) means[i]! /= counts[Math.floor(i / DIM)]!;
  return labels.reduce((sum, label, i) => sum + squaredDistance(points, i, means, label), 0);
}

let tensorsBefore: number;
beforeEach(() => (tensorsBefore = tf.memory().numTensors));
afterEach(() => expect(tf.memory().numTensors, 'tensors left').toBe(tensorsBefore));

describe('kMeans', () => {
  it('finds known clusters and reaches the inertia of the true partition', () => {
    const { points, labels } = blobs(1);
    const result = kMeans(points, DIM, { clusters: 4, batchSize: 64, steps: 30, seed: 2 });
    for (const center of CENTERS) {
      const nearest = Math.min(...[0, 1, 2, 3].map((c) => squaredDistance(Float32Array.from(center), 0, result.centroids, c)));
      expect(nearest).toBeLessThan(0.05);
    }
    // One centroid per label: the assignment is the labelling up to renaming.
    const byLabel = new Map<number, Set<number>>();
    labels.forEach((label, i) => byLabel.set(label, (byLabel.get(label) ?? new Set()).add(result.assignments[i]!)));
    expect([...byLabel.values()].map((set) => set.size)).toEqual([1, 1, 1, 1]);
    expect(new Set([...byLabel.values()].map((set) => [...set][0])).size).toBe(4);
    expect(result.inertia / labelInertia(points, labels)).toBeLessThan(1 + 1e-4);
  });

  it('reports each point’s nearest centroid and the exact inertia of the returned centroids', () => {
    const { points } = blobs(3);
    const result = kMeans(points, DIM, { clusters: 6, batchSize: 32, steps: 10, seed: 4 });
    let inertia = 0;
    for (let i = 0; i < 1000; i++) {
      const distances = [0, 1, 2, 3, 4, 5].map((c) => squaredDistance(points, i, result.centroids, c));
      expect(distances[result.assignments[i]!]! - Math.min(...distances)).toBeLessThan(1e-4);
      inertia += Math.min(...distances);
    }
    expect(Math.abs(result.inertia - inertia) / inertia).toBeLessThan(1e-4);
  });

  it('is deterministic for a seed; k-means++ alone returns data points, spread out by seed', () => {
    const { points } = blobs(5);
    const options = { clusters: 4, batchSize: 50, steps: 5, seed: 9 };
    expect(kMeans(points, DIM, options)).toEqual(kMeans(points, DIM, options));
    const seeding = (seed: number) => kMeans(points, DIM, { clusters: 4, steps: 0, lloydPasses: 0, seed });
    const seeded = seeding(1);
    for (let c = 0; c < 4; c++) {
      const isDataPoint = Array.from({ length: 1000 }, (_, i) => squaredDistance(points, i, seeded.centroids, c)).some((d) => d === 0);
      expect(isDataPoint).toBe(true);
    }
    expect(seeding(2).centroids).not.toEqual(seeded.centroids);
  });

  it('lowers the inertia with mini-batch steps and Lloyd passes', () => {
    const { points } = blobs(6);
    const seedingOnly = kMeans(points, DIM, { clusters: 8, steps: 0, lloydPasses: 0, seed: 3 });
    const miniBatch = kMeans(points, DIM, { clusters: 8, batchSize: 100, steps: 40, lloydPasses: 0, seed: 3 });
    const refined = kMeans(points, DIM, { clusters: 8, batchSize: 100, steps: 40, lloydPasses: 3, seed: 3 });
    expect(miniBatch.inertia).toBeLessThan(seedingOnly.inertia);
    expect(refined.inertia).toBeLessThan(miniBatch.inertia);
  });

  it('moves an empty cluster onto the worst-served point', () => {
    // Eleven copies of one point and one outlier; seeding from 2 random points usually misses the
    // outlier and puts both centroids on the common point, leaving one cluster empty.
    const points = new Float32Array(12 * DIM).fill(1);
    points.fill(-3, 11 * DIM);
    for (const seed of [0, 1, 2, 3]) {
      const result = kMeans(points, DIM, { clusters: 2, initSize: 2, steps: 0, seed });
      expect(result.inertia).toBe(0);
      expect(new Set(Array.from(result.centroids))).toEqual(new Set([1, -3]));
    }
  });

  it('refuses bad arguments, naming the field', () => {
    const points = new Float32Array(10 * DIM);
    expect(() => kMeans(points, DIM, { clusters: 11 })).toThrow(/^clusters must not exceed the number of points \(10\), got 11$/);
    expect(() => kMeans(points, DIM, { clusters: 0 })).toThrow(/^clusters must be an integer >= 1, got 0$/);
    expect(() => kMeans(points, 7, { clusters: 2 })).toThrow(/^points must hold a whole number of rows of 7 values, got 60 values$/);
    expect(() => kMeans(points, DIM, { clusters: 2, batchSize: 0 })).toThrow(/^batchSize must be an integer >= 1/);
    expect(() => kMeans(points, DIM, { clusters: 2, steps: -1 })).toThrow(/^steps must be an integer >= 0/);
    expect(() => kMeans(points, DIM, { clusters: 2, lloydPasses: 0.5 })).toThrow(/^lloydPasses must be an integer >= 0/);
    expect(() => kMeans(points, DIM, { clusters: 3, initSize: 2 })).toThrow(/^initSize must be an integer >= 3/);
    expect(() => kMeans(points, DIM, { clusters: 2, iterations: 5 } as never)).toThrow(/^kMeans.iterations is not an option/);
  });
});

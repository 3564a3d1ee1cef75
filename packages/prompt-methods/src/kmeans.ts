import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, integer, knownOptions } from '@visual-peft/vit-core';
import { SeededRandom } from '@visual-peft/vit-core';

export interface KMeansOptions {
  /** Number of centroids, k. */
  readonly clusters: number;
  /** Seed of the seeding and of the mini-batches: the same seed gives the same centroids. Default 0. */
  readonly seed?: number;
  /** Points per mini-batch step. Default 1024 (scikit-learn's MiniBatchKMeans default). */
  readonly batchSize?: number;
  /** Mini-batch steps (Sculley 2010) after the seeding. Default 100. */
  readonly steps?: number;
  /** Points k-means++ seeds from, drawn at random. Default max(3 * batchSize, 3 * clusters), or all points when fewer. */
  readonly initSize?: number;
  /** Full Lloyd passes over every point after the mini-batch steps, each lowering the inertia. Default 1. */
  readonly lloydPasses?: number;
}

export interface KMeansResult {
  /** [clusters, dim], row-major. */
  readonly centroids: Float32Array;
  /** The nearest centroid of each point. */
  readonly assignments: Int32Array;
  /** Sum over the points of the squared distance to their nearest centroid (what k-means minimises). */
  readonly inertia: number;
}

const KMEANS_OPTIONS = ['clusters', 'seed', 'batchSize', 'steps', 'initSize', 'lloydPasses'] as const;
/** Rows sent to the backend at once in a full pass: large enough for a fast product, small in memory. */
const CHUNK_ROWS = 4096;

/** Centroids in the layout the distance product wants: [dim, k] (a plain untransposed x·C) and squared norms. */
interface CentroidTensors {
  readonly byColumn: tf.Tensor2D;
  readonly squaredNorms: tf.Tensor1D;
}

function uploadCentroids(centroids: Float32Array, count: number, dim: number): CentroidTensors {
  const byColumn = new Float32Array(count * dim);
  const squaredNorms = new Float32Array(count);
  for (let c = 0; c < count; c++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const value = centroids[c * dim + d]!;
      byColumn[d * count + c] = value;
      norm += value * value;
    }
    squaredNorms[c] = norm;
  }
  return { byColumn: tf.tensor2d(byColumn, [dim, count]), squaredNorms: tf.tensor1d(squaredNorms) };
}

/**
 * Nearest centroid of each of `count` rows and the squared distance to it, on the active backend:
 * |x - c|^2 = |x|^2 - 2 x·c + |c|^2, the product being one [count, dim] x [dim, k] matmul.
 */
function nearest(rows: Float32Array, count: number, dim: number, centroids: CentroidTensors): { index: Int32Array; distance: Float32Array } {
  // The host arrays are read outside the scope: tidy walks every element of a returned typed array.
  const [index, distance] = tf.tidy(() => {
    const x = tf.tensor2d(rows.subarray(0, count * dim), [count, dim]);
    const scores = tf.sub(centroids.squaredNorms, tf.mul(tf.matMul(x, centroids.byColumn), 2));
    return [tf.argMin(scores, 1), tf.relu(tf.add(tf.min(scores, 1), tf.sum(tf.square(x), 1)))];
  });
  try {
    return { index: index.dataSync() as Int32Array, distance: distance.dataSync() as Float32Array };
  } finally {
    tf.dispose([index, distance]);
  }
}

function withCentroids<T>(centroids: Float32Array, count: number, dim: number, use: (tensors: CentroidTensors) => T): T {
  const tensors = uploadCentroids(centroids, count, dim);
  try {
    return use(tensors);
  } finally {
    tf.dispose([tensors.byColumn, tensors.squaredNorms]);
  }
}

function copyRow(from: Float32Array, fromRow: number, to: Float32Array, toRow: number, dim: number): void {
  to.set(from.subarray(fromRow * dim, (fromRow + 1) * dim), toRow * dim);
}

/** k-means++ (Arthur & Vassilvitskii 2007): each next centroid drawn with probability proportional to D(x)^2. */
function seedCentroids(sample: Float32Array, size: number, dim: number, clusters: number, random: SeededRandom): Float32Array {
  const centroids = new Float32Array(clusters * dim);
  const closest = new Float64Array(size).fill(Infinity);
  let chosen = random.integer(0, size - 1);
  for (let c = 0; c < clusters; c++) {
    copyRow(sample, chosen, centroids, c, dim);
    const { distance } = withCentroids(centroids.subarray(c * dim, (c + 1) * dim), 1, dim, (tensors) => nearest(sample, size, dim, tensors));
    let total = 0;
    for (let i = 0; i < size; i++) {
      closest[i] = Math.min(closest[i]!, distance[i]!);
      total += closest[i]!;
    }
    if (total === 0) {
      chosen = random.integer(0, size - 1);
      continue;
    }
    let target = random.uniform() * total;
    chosen = size - 1;
    for (let i = 0; i < size; i++) {
      target -= closest[i]!;
      if (target < 0) {
        chosen = i;
        break;
      }
    }
  }
  return centroids;
}

/** Assigns every point (in chunks) and returns assignments, per-point distances and inertia. */
function assignAll(points: Float32Array, count: number, dim: number, centroids: Float32Array, clusters: number) {
  const assignments = new Int32Array(count);
  const distances = new Float32Array(count);
  let inertia = 0;
  withCentroids(centroids, clusters, dim, (tensors) => {
    for (let start = 0; start < count; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, count - start);
      const { index, distance } = nearest(points.subarray(start * dim), rows, dim, tensors);
      assignments.set(index, start);
      distances.set(distance, start);
      for (const value of distance) inertia += value;
    }
  });
  return { assignments, distances, inertia };
}

/** One Lloyd step: every centroid to the mean of its points; an empty one to the worst-served point. */
function lloydUpdate(points: Float32Array, count: number, dim: number, clusters: number, assigned: ReturnType<typeof assignAll>): Float32Array {
  const sums = new Float64Array(clusters * dim);
  const sizes = new Float64Array(clusters);
  for (let i = 0; i < count; i++) {
    const c = assigned.assignments[i]!;
    sizes[c]! += 1;
    for (let d = 0; d < dim; d++) sums[c * dim + d]! += points[i * dim + d]!;
  }
  const centroids = new Float32Array(clusters * dim);
  const empty = Array.from(sizes.keys()).filter((c) => sizes[c] === 0);
  if (empty.length > 0) {
    const farthest = Array.from(assigned.distances.keys()).sort((a, b) => assigned.distances[b]! - assigned.distances[a]!);
    empty.forEach((c, rank) => {
      // The point leaves its old cluster, whose mean then no longer counts it.
      const point = farthest[rank]!;
      const old = assigned.assignments[point]!;
      if (sizes[old]! > 1) {
        sizes[old]! -= 1;
        for (let d = 0; d < dim; d++) sums[old * dim + d]! -= points[point * dim + d]!;
      }
      sizes[c] = 1;
      for (let d = 0; d < dim; d++) sums[c * dim + d] = points[point * dim + d]!;
    });
  }
  for (let c = 0; c < clusters; c++) {
    for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d]! / sizes[c]!;
  }
  return centroids;
}

/**
 * k-means on `points` ([count, dim] row-major), made practical for hundreds of thousands of ViT
 * tokens: k-means++ seeding on a random subset, mini-batch updates with per-centroid learning
 * rates 1 / (points seen), then full Lloyd passes. Distances run as matrix products on the active
 * tfjs backend. Deterministic for a seed on a given backend.
 */
export function kMeans(points: Float32Array, dim: number, options: KMeansOptions): KMeansResult {
  knownOptions('kMeans', options, KMEANS_OPTIONS);
  integer('dim', dim, 1);
  if (points.length % dim !== 0) throw new ShapeError(`points must hold a whole number of rows of ${dim} values, got ${points.length} values`);
  const count = points.length / dim;
  const clusters = integer('clusters', options.clusters, 1);
  if (clusters > count) throw new ConfigError('clusters', clusters, `must not exceed the number of points (${count})`);
  const batchSize = integer('batchSize', options.batchSize ?? 1024, 1);
  const steps = integer('steps', options.steps ?? 100, 0);
  const lloydPasses = integer('lloydPasses', options.lloydPasses ?? 1, 0);
  const initSize = Math.min(count, integer('initSize', options.initSize ?? Math.max(3 * batchSize, 3 * clusters), clusters));
  const random = new SeededRandom(options.seed ?? 0);

  const initSample = new Float32Array(initSize * dim);
  for (let i = 0; i < initSize; i++) copyRow(points, initSize === count ? i : random.integer(0, count - 1), initSample, i, dim);
  let centroids = seedCentroids(initSample, initSize, dim, clusters, random);

  const seen = new Float64Array(clusters);
  const batch = new Float32Array(batchSize * dim);
  for (let step = 0; step < steps; step++) {
    for (let i = 0; i < batchSize; i++) copyRow(points, random.integer(0, count - 1), batch, i, dim);
    const { index } = withCentroids(centroids, clusters, dim, (tensors) => nearest(batch, batchSize, dim, tensors));
    for (let i = 0; i < batchSize; i++) {
      const c = index[i]!;
      seen[c]! += 1;
      const rate = 1 / seen[c]!;
      for (let d = 0; d < dim; d++) centroids[c * dim + d]! += rate * (batch[i * dim + d]! - centroids[c * dim + d]!);
    }
  }

  let assigned = assignAll(points, count, dim, centroids, clusters);
  for (let pass = 0; pass < lloydPasses; pass++) {
    centroids = lloydUpdate(points, count, dim, clusters, assigned);
    assigned = assignAll(points, count, dim, centroids, clusters);
  }
  return { centroids, assignments: assigned.assignments, inertia: assigned.inertia };
}

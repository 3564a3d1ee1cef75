import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, expect } from 'vitest';

/**
 * A list a test pushes what it builds into: after each test everything in it is disposed, last
 * first, and the test fails if any tensor is left.
 */
export function useDisposables(): { dispose(): void }[] {
  const disposables: { dispose(): void }[] = [];
  let tensorsBefore = 0;
  beforeEach(() => (tensorsBefore = tf.memory().numTensors));
  afterEach(() => {
    disposables.splice(0).reverse().forEach((item) => item.dispose());
    expect(tf.memory().numTensors, 'tensors left after the test').toBe(tensorsBefore);
  });
  return disposables;
}

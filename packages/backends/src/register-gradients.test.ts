import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { registerGradients as registerCoreGradients } from '@visual-peft/vit-core';
import { registerGradients } from './resolve-backend';

it('registers gradients, which tfjs-core alone does not (deprecated: it delegates to vit-core)', async () => {
  await tf.setBackend('cpu');
  const derivative = tf.grad((x: tf.Tensor) => tf.sum(tf.erf(x)));
  expect(() => derivative(tf.tensor1d([0]))).toThrow(/Cannot compute gradient: gradient function not found for (Sum|Erf)/);
  await registerGradients();
  expect(derivative(tf.tensor1d([0])).dataSync()[0]).toBeCloseTo(2 / Math.sqrt(Math.PI), 6);
  expect(registerCoreGradients()).toBe(0);
});

// Unit tests run on the deterministic pure-JS CPU backend, with every gradient registered up front
// (as the full @tensorflow/tfjs package does), so a test never depends on which model it built
// first; in an app, vit-core's registerGradients (called by new VisionTransformer) does it.
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';

await tf.setBackend('cpu');
await tf.ready();

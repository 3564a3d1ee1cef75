// The committed demo backbones and Fashion-MNIST subset of the benchmark app, served from where
// they live in the repository: Vite copies them into the build and serves them in development.
import maeConfig from '../../benchmark/demo/backbones/mae/config.json?url';
import maeWeights from '../../benchmark/demo/backbones/mae/model.safetensors?url';
import supervisedConfig from '../../benchmark/demo/backbones/supervised/config.json?url';
import supervisedWeights from '../../benchmark/demo/backbones/supervised/model.safetensors?url';
import testImages from '../../benchmark/demo/data/t10k-images-idx3-ubyte.gz?url';
import testLabels from '../../benchmark/demo/data/t10k-labels-idx1-ubyte.gz?url';
import trainImages from '../../benchmark/demo/data/train-images-idx3-ubyte.gz?url';
import trainLabels from '../../benchmark/demo/data/train-labels-idx1-ubyte.gz?url';
import { FormatError } from '@visual-peft/vit-core';

/** The demo backbones (pretrained by `visual-peft-bench pretrain` on Fashion-MNIST's classes 0-4). */
export const DEMO_BACKBONES = {
  supervised: { config: supervisedConfig, weights: supervisedWeights },
  mae: { config: maeConfig, weights: maeWeights },
} as const;

export type DemoBackboneName = keyof typeof DEMO_BACKBONES;

export const FASHION_MNIST_URLS = {
  train: { images: trainImages, labels: trainLabels },
  test: { images: testImages, labels: testLabels },
} as const;

export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new FormatError(url, `could not be fetched (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

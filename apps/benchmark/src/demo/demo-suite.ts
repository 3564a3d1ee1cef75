import { join } from 'node:path';
import { DEMO_BACKBONES_DIR } from '../demo-assets';
import { UsageError } from '../errors';
import type { Recipe } from '../suite/recipes';
import { recipeFor } from '../suite/recipes';
import type { SuiteTask } from '../suite/suite-config';
import { DEMO_TASKS } from './demo-tasks';

/*
 * `run --suite demo`: the papers' protocol shrunk to fit 15 minutes on 2 CPU cores. Two 1k-shot
 * tasks drawn from Fashion-MNIST's five classes the backbones never saw, both project-pretrained
 * backbones, every method, one seed. What is shortened is listed in `demoRecipe`; everything else
 * (optimiser kind, schedule shape, label smoothing, the method's own options) is the paper's.
 */

/** The demo's tasks: the unseen classes (natural) and their rotation by quarter turns (structured). */
export const DEMO_SUITE_TASKS: readonly SuiteTask[] = DEMO_TASKS.map((task) => ({
  task,
  dataset: 'fashion-mnist',
  group: task === 'fmnist-unseen' ? 'natural' : 'structured',
}));

/** The demo's backbones: the committed MAE-pretrained and supervised small ViTs (`visual-peft-bench pretrain` makes them). */
export const DEMO_BACKBONE_NAMES = ['mae', 'supervised'] as const;

export function demoBackbones(): { config: string; weights: string; name: string }[] {
  return DEMO_BACKBONE_NAMES.map((name) => ({
    name,
    config: join(DEMO_BACKBONES_DIR, name, 'config.json'),
    weights: join(DEMO_BACKBONES_DIR, name, 'model.safetensors'),
  }));
}

/** One seed: the papers' first. */
export const DEMO_SEEDS: readonly number[] = [42];

/** Epochs of every demo run (one of them warm-up). */
export const DEMO_EPOCHS = 4;

/** Batch size of every demo run: 31 steps per epoch on train800val200. */
export const DEMO_BATCH_SIZE = 32;

/**
 * Each method's learning rate in the demo: one point per method, so the demo trains each job once
 * (on train800val200, scored on test) instead of searching a grid. Each is the point of
 * `examples/demo-search.yaml`'s grid (this suite with 3 rates per method on fmnist-unseen) with the
 * best mean validation top-1 over the two backbones (the larger rate on a tie). The grids follow
 * each paper's optimiser: SGD rates for VPT's protocol and GatedPT, Adam(W) rates for SPT, VQT, SCT.
 */
export const DEMO_LEARNING_RATES: Readonly<Record<string, number>> = {
  linear: 0.1,
  full: 0.01,
  bias: 0.02,
  adapter: 0.02,
  adaptformer: 0.5,
  lora: 0.1,
  ssf: 0.02,
  'vpt-shallow': 0.1,
  'vpt-deep': 0.1,
  'gated-prompt': 0.1,
  'spt-shallow': 0.02,
  'spt-deep': 0.02,
  vqt: 0.02,
  sct: 0.02,
};

/** Options scaled to the small ViT (64 wide, 16 patch tokens): the papers' prompt counts and SCT's K are for ViT-B. */
const DEMO_OPTIONS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  'vpt-shallow': { numPrompts: 8 },
  'vpt-deep': { numPrompts: 8 },
  'gated-prompt': { numPrompts: 8 },
  'spt-shallow': { numPrompts: 8 },
  'spt-deep': { numPrompts: 8 },
  // 96 of ViT-B's 768 channels: the same eighth of this backbone's 64.
  sct: { k: 8 },
};

/**
 * A method's recipe in the demo: its paper's recipe with DEMO_EPOCHS epochs (one warm-up), batch
 * DEMO_BATCH_SIZE without the linear scaling rule, its demo learning rate and no weight decay, no
 * EMA (a 0.9999 average over ~150 steps would barely leave the initial weights), no stochastic depth,
 * a backbone head that starts at zero (VQT's own classifier, which replaces that head, keeps its
 * official kaiming-normal draw), and the options of DEMO_OPTIONS over the paper's.
 */
export function demoRecipe(name: string): Recipe {
  const learningRate = DEMO_LEARNING_RATES[name];
  if (learningRate === undefined) throw new UsageError(`the demo suite runs its own methods (${Object.keys(DEMO_LEARNING_RATES).join(', ')}), not ${name}: it has no demo learning rate`);
  const paper = recipeFor(name, 'supervised');
  return {
    ...paper,
    options: { ...paper.options, ...DEMO_OPTIONS[name] },
    epochs: DEMO_EPOCHS,
    batchSize: DEMO_BATCH_SIZE,
    batchScaling: false,
    schedule: { ...paper.schedule, warmupEpochs: 1 },
    grid: { learningRates: [learningRate], weightDecays: [0] },
    headWeightDecay: null,
    ema: null,
    dropPathRate: 0,
    // The papers' heads start from random draws that 100 epochs wash out; over the demo's few epochs the
    // VPT head's std sqrt(2 / classes) dominates (MAE linear probe on fmnist-unseen: 28.4 % against > 40 % from zeros).
    classifier: { ...paper.classifier!, init: 'zeros', std: null, source: 'demo: the head starts at zero' },
    source: `demo: ${paper.source}, shortened (${DEMO_EPOCHS} epochs, batch ${DEMO_BATCH_SIZE}, lr ${learningRate}, wd 0, no EMA)`,
  };
}

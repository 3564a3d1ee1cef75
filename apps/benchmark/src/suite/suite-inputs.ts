import { ConfigError } from '@visual-peft/vit-core';
import type { LoadSetup } from './check-inputs';
import { batchSizeRule, checkBackboneCheckpoint, checkSplitImages } from './check-inputs';
import type { DataFingerprint } from './input-identity';
import { dataFingerprint } from './input-identity';
import type { Recipe } from './recipes';
import type { TaskSplits } from './run-job';
import type { SegmentationSplits } from './segmentation-job';
import type { SuitePlan } from './suite-config';
import { taskRoot, withInputs } from './suite-config';

/** A recipe and its first stage's, if any: each trains with its own batch size and classifier. */
const stagesOf = (recipe: Recipe): Recipe[] => (recipe.firstStage === undefined ? [recipe] : [recipe, ...stagesOf(recipe.firstStage)]);

/** How a job of this recipe loads the backbone checkpoint (src/suite/run-job.ts, src/suite/segmentation-job.ts). */
function loadSetup(recipe: Recipe): LoadSetup {
  const classifier = recipe.classifier;
  if (recipe.segmentation !== undefined || classifier === undefined) return { fcNorm: 'checkpoint' };
  return { fcNorm: classifier.norm, globalPool: classifier.pool, fcNormLayer: classifier.pool === 'avg' };
}

/** The splits a job trains on: the search's and the final run's (ADE20K: its training split). */
const trainingSplits = (splits: TaskSplits | SegmentationSplits) => ('finalTrain' in splits ? [splits.train, splits.finalTrain] : [splits.train]);

/**
 * Every check of a suite's inputs that can run before its first job, in the order of their cost:
 * batch sizes against the training splits, the header and end of every image of every task, then every
 * backbone checkpoint (finite values, keys and shapes as each method loads it), one at a time and
 * released before the next is read. Returns the plan with the inputs' identity (checkpoint SHA-256s,
 * data fingerprints) in its hash; jobs read their checkpoint again. Nothing is written (but the
 * checkpoint-hash cache).
 */
export async function checkSuiteInputs(plan: SuitePlan, data: string, splits: ReadonlyMap<string, TaskSplits | SegmentationSplits>): Promise<SuitePlan> {
  const { resolved } = plan;
  for (const task of resolved.tasks) {
    const taskSplits = splits.get(task.task)!;
    for (const method of resolved.methods) {
      for (const [depth, stage] of stagesOf(method.recipe).entries()) {
        for (const split of trainingSplits(taskSplits)) {
          const rule = batchSizeRule(stage.batchSize, split);
          if (rule !== null) throw new ConfigError(`batchSize of ${method.name}${depth > 0 ? "'s first stage" : ''} on task ${task.task}`, stage.batchSize, `${rule}; set a smaller batchSize in the suite file`);
        }
      }
    }
  }
  const fingerprints = new Map<string, DataFingerprint>();
  for (const task of resolved.tasks) {
    const root = taskRoot(data, task);
    const taskSplits = Object.values(splits.get(task.task)!) as Parameters<typeof dataFingerprint>[1];
    await checkSplitImages(root, taskSplits, `visual-peft-bench data --dataset ${task.dataset} --root ${root}`);
    fingerprints.set(task.task, await dataFingerprint(data, taskSplits));
  }
  const checkpoints = new Map<string, string | null>();
  const setups = resolved.methods.flatMap((method) => stagesOf(method.recipe).map(loadSetup));
  for (const backbone of resolved.backbones) {
    const path = plan.weightPaths.get(backbone.name) ?? null;
    checkpoints.set(backbone.name, path === null ? null : await checkBackboneCheckpoint(backbone.config, path, setups));
  }
  return withInputs(plan, { checkpoints, data: fingerprints });
}

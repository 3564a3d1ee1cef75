import { describe, expect, it } from 'vitest';
import { RECIPES, taskTraining } from './recipes';

describe('taskTraining', () => {
  const sct = RECIPES.sct!;

  it('gives SCT its released configs per VTAB-1k task: RandAugment only where train_aug is on, smoothing on Natural, Specialized and KITTI', () => {
    expect(taskTraining(sct, { dataset: 'vtab-kitti', group: 'structured' })).toEqual({ pipelines: { train: 'vtab-sct-train', eval: 'vtab-sct-test' }, labelSmoothing: 0.1 });
    expect(taskTraining(sct, { dataset: 'vtab-dsprites_loc', group: 'structured' })).toEqual({ pipelines: { train: 'vtab-sct-test', eval: 'vtab-sct-test' }, labelSmoothing: 0 });
    expect(taskTraining(sct, { dataset: 'vtab-caltech101', group: 'natural' })).toEqual({ pipelines: { train: 'vtab-sct-test', eval: 'vtab-sct-test' }, labelSmoothing: 0.1 });
    expect(taskTraining(sct, { dataset: 'vtab-eurosat', group: 'specialized' })).toEqual({ pipelines: { train: 'vtab-sct-train', eval: 'vtab-sct-test' }, labelSmoothing: 0.1 });
    expect(taskTraining(sct, { dataset: 'vtab-dmlab', group: 'structured' }).labelSmoothing).toBe(0);
  });

  it('gives a recipe without VTAB-1k pipelines the dataset’s own, and FGVC its own whatever the recipe', () => {
    const vpt = RECIPES['vpt-deep']!;
    const own = taskTraining(vpt, { dataset: 'vtab-kitti', group: 'structured' });
    expect(own.pipelines.train).not.toBe('vtab-sct-train');
    expect(taskTraining(sct, { dataset: 'cub', group: 'fgvc' }).pipelines.train).not.toBe('vtab-sct-train');
  });
});

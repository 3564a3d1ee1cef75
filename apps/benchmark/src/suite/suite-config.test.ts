import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseShard, shardJobs, suiteJobs } from './job-list';
import { DEMO_BATCH_SIZE, DEMO_EPOCHS, DEMO_LEARNING_RATES, DEMO_SEEDS } from '../demo/demo-suite';
import { BACKBONE_FAMILIES, RECIPES, RECIPE_NAMES, recipeFor } from './recipes';
import { resolveSuite, suiteHash } from './suite-config';

const tinyConfig = fileURLToPath(new URL('../../../../packages/vit-core/src/__fixtures__/tiny-vit/config.json', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'visual-peft-suite-config-'));
let files = 0;

function suiteFile(content: string, extension = 'yaml'): string {
  const path = join(directory, `suite-${files++}.${extension}`);
  writeFileSync(path, content);
  return path;
}

describe('resolveSuite', () => {
  it('gives the built-in suites the papers’ tasks, methods’ recipes and seeds', async () => {
    const { resolved } = await resolveSuite({ suite: 'vtab-1k', methods: ['vpt-deep', 'gated-prompt'], backbone: { config: 'vit_base_patch16_224', weights: null } });
    expect(resolved.tasks).toHaveLength(19);
    expect(resolved.tasks.filter((task) => task.group === 'structured')).toHaveLength(8);
    expect(resolved.seeds).toEqual([42, 44, 82, 100, 800]);
    expect(resolved.methods[0]!.recipe).toMatchObject({ optimizer: 'sgd', epochs: 100, batchSize: 128, batchScaling: true });
    expect(resolved.methods[0]!.recipe.grid.learningRates).toHaveLength(10);
    expect(resolved.methods[1]!.recipe.grid).toEqual({ learningRates: [0.1], weightDecays: [0] });
    const fgvc = await resolveSuite({ suite: 'fgvc', methods: ['sct'], backbone: { config: 'vit_base_patch16_224', weights: '/w/mae.safetensors' } });
    expect(fgvc.resolved.tasks.map((task) => task.task)).toEqual(['cub', 'nabirds', 'oxford-flowers', 'stanford-dogs', 'stanford-cars']);
    expect(fgvc.resolved.backbones[0]).toMatchObject({ name: 'mae', weights: 'mae.safetensors' });
    expect(fgvc.weightPaths.get('mae')).toBe('/w/mae.safetensors');
  });

  it('resolves every recipe per backbone family: the classifier of its official code, the family’s grid, prompts and head weight decay', async () => {
    for (const name of RECIPE_NAMES) {
      for (const family of BACKBONE_FAMILIES) {
        const { classifier } = recipeFor(name, family);
        expect(classifier, `${name} on ${family}`).toMatchObject({ family, pool: family === 'mae' ? 'avg' : 'token' });
        expect(classifier!.source).not.toBe('');
      }
    }
    const heads = (family: 'supervised' | 'mae' | 'moco-v3') =>
      Object.fromEntries(['linear', 'vpt-deep', 'gated-prompt', 'spt-shallow', 'vqt', 'sct'].map((name) => [name, recipeFor(name, family).classifier!]));
    expect(heads('supervised')).toMatchObject({
      linear: { init: 'vpt', norm: 'checkpoint' },
      'gated-prompt': { init: 'vpt' },
      'spt-shallow': { init: 'timm', std: null },
      vqt: { init: 'vpt' },
      sct: { init: 'torch' },
    });
    // MAE: GatedPT and SPT read the pretrained norm after the pooled mean; VPT's and VQT's code a fresh fc_norm.
    expect(heads('mae')).toMatchObject({
      linear: { norm: 'fresh' },
      'vpt-deep': { norm: 'fresh' },
      'gated-prompt': { norm: 'from-norm' },
      'spt-shallow': { norm: 'from-norm' },
      vqt: { norm: 'fresh' },
    });
    expect(heads('moco-v3')['spt-shallow']).toMatchObject({ init: 'timm', std: 0.01, norm: 'checkpoint' });

    const mae = await resolveSuite({ suite: 'fgvc', methods: ['spt-shallow', 'gated-prompt', 'vpt-shallow', 'vpt-deep'], family: 'mae', backbone: { config: tinyConfig, weights: null } });
    expect(mae.resolved.family).toBe('mae');
    const [spt, gated, shallow, deep] = mae.resolved.methods.map((method) => method.recipe);
    expect(spt).toMatchObject({ grid: { learningRates: [5e-2], weightDecays: [1e-2] }, headWeightDecay: 0.5 });
    expect(spt!.source).toMatch(/mae: SPT code README, MAE example/);
    expect(gated!.grid).toEqual({ learningRates: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], weightDecays: [0] });
    expect(shallow!.options).toEqual({ numPrompts: 100 });
    expect(deep!.options).toEqual({ numPrompts: 10 });
    const supervised = await resolveSuite({ suite: 'fgvc', methods: ['spt-shallow', 'vpt-shallow'], backbone: { config: tinyConfig, weights: null } });
    expect(supervised.resolved.family).toBe('supervised');
    expect(supervised.resolved.methods[0]!.recipe).toMatchObject({ grid: { learningRates: [1e-3], weightDecays: [1e-2] }, headWeightDecay: 3 });
    expect(supervised.resolved.methods[1]!.recipe.options).toEqual({});
    expect(supervised.hash).not.toBe((await resolveSuite({ suite: 'fgvc', methods: ['spt-shallow', 'vpt-shallow'], family: 'moco-v3', backbone: { config: tinyConfig, weights: null } })).hash);

    // A suite file names its family; --family replaces it.
    const file = suiteFile('suite: vtab-1k\nfamily: moco-v3\nmethods: [spt-deep]\n');
    expect((await resolveSuite({ suite: file, backbone: { config: tinyConfig, weights: null } })).resolved.methods[0]!.recipe.classifier).toMatchObject({ family: 'moco-v3', std: 0.01 });
    expect((await resolveSuite({ suite: file, family: 'mae', backbone: { config: tinyConfig, weights: null } })).resolved.family).toBe('mae');
    await expect(resolveSuite({ suite: suiteFile('suite: fgvc\nfamily: dino\nmethods: [linear]\n'), backbone: { config: tinyConfig, weights: null } })).rejects.toThrow(/family must be one of supervised, mae, moco-v3/);
    await expect(resolveSuite({ suite: 'fgvc', methods: ['linear'], family: 'dino', backbone: { config: tinyConfig, weights: null } })).rejects.toThrow(/--family must be one of supervised, mae, moco-v3, got "dino"/);
    await expect(resolveSuite({ suite: 'demo', family: 'mae' })).rejects.toThrow(/the demo suite's backbones are its own supervised pretraining/);
  });

  it('gives ade20k SETR-PUP’s recipe (iterations, crop, heads at 10x, one lr) with the method’s own options, and leaves other suites’ hashes alone', async () => {
    const { resolved, hash } = await resolveSuite({ suite: 'ade20k', methods: ['gated-prompt', 'linear'], backbone: { config: 'vit_base_patch16_224', weights: null } });
    expect(resolved.tasks).toEqual([{ task: 'ade20k', dataset: 'ade20k', group: 'ade20k' }]);
    const recipe = resolved.methods[0]!.recipe;
    expect(recipe).toMatchObject({ optimizer: 'sgd', epochs: 0, batchSize: 16, grid: { learningRates: [1e-3], weightDecays: [0] }, options: RECIPES['gated-prompt']!.options });
    expect(recipe.schedule).toMatchObject({ kind: 'poly', power: 0.9, minLr: 1e-4 });
    expect(recipe.segmentation).toEqual({ iterations: 160_000, cropSize: 512, headChannels: 256, headLearningRateMultiplier: 10 });
    const path = suiteFile('suite: ade20k\nmethods: [linear]\niterations: 40\ncropSize: 32\nrecipes: { linear: { headChannels: 8, batchSize: 2 } }');
    const small = await resolveSuite({ suite: path, backbone: { config: tinyConfig, weights: null } });
    expect(small.resolved.methods[0]!.recipe).toMatchObject({ batchSize: 2, segmentation: { iterations: 40, cropSize: 32, headChannels: 8, headLearningRateMultiplier: 10 } });
    expect(small.hash).not.toBe(hash);
    // Classification recipes carry no segmentation field: their canonical JSON, and so the hash of a stored suite, is as before.
    const vtab = await resolveSuite({ suite: 'vtab-1k', methods: ['linear'], backbone: { config: 'vit_base_patch16_224', weights: null } });
    expect('segmentation' in vtab.resolved.methods[0]!.recipe).toBe(false);
  });

  it('applies a YAML suite file: shared and per-method overrides, options, backbones relative to the file', async () => {
    const path = suiteFile(
      [
        'suite: vtab-1k',
        'tasks: [vtab-eurosat, vtab-dtd]',
        'methods: [vpt-deep, vqt]',
        'seeds: [1, 2]',
        'epochs: 3',
        'grid: { learningRates: [0.5, 0.1], weightDecays: [0] }',
        'recipes:',
        '  vqt: { batchSize: 8, grid: { learningRates: [1], weightDecays: [0.01] } }',
        'options:',
        '  vpt-deep: { numPrompts: 10 }',
        'backbones:',
        `  - { config: ${JSON.stringify(tinyConfig)}, name: tiny }`,
      ].join('\n'),
    );
    const { resolved, hash } = await resolveSuite({ suite: path });
    expect(resolved.tasks.map((task) => [task.task, task.group])).toEqual([['vtab-eurosat', 'specialized'], ['vtab-dtd', 'natural']]);
    const [vpt, vqt] = resolved.methods;
    expect(vpt!.recipe).toMatchObject({ epochs: 3, batchSize: 128, options: { numPrompts: 10 }, grid: { learningRates: [0.5, 0.1], weightDecays: [0] } });
    // Warm-up never exceeds a shortened run.
    expect(vpt!.recipe.schedule.warmupEpochs).toBe(3);
    expect(vqt!.recipe).toMatchObject({ epochs: 3, batchSize: 8, optimizer: 'adam', grid: { learningRates: [1], weightDecays: [0.01] } });
    expect(resolved.backbones[0]).toMatchObject({ name: 'tiny', weights: null, config: { embedDim: 32, depth: 2 } });
    // The command line wins over the file; a different configuration hashes differently.
    const narrowed = await resolveSuite({ suite: path, seeds: [1], methods: ['vqt'] });
    expect(narrowed.resolved.seeds).toEqual([1]);
    expect(narrowed.resolved.methods.map((method) => method.name)).toEqual(['vqt']);
    expect(narrowed.hash).not.toBe(hash);
    expect(suiteHash(JSON.parse(JSON.stringify(resolved)))).toBe(hash);
  });

  it('runs variants as methods of their own: the base’s recipe and settings, the name’s options, settings keyed by the variant', async () => {
    const path = suiteFile(
      [
        'suite: vtab-1k',
        'tasks: [vtab-eurosat]',
        "methods: [sct, 'sct[selection=random]', 'sct[scale=0.10]', 'gated-prompt[hardGates=true]', 'gated-prompt[gates=false]', 'spt-deep[init=max-pool]', 'vpt-shallow[numPrompts=100]']",
        'seeds: [42]',
        'epochs: 3',
        'recipes:',
        '  sct: { batchSize: 8 }',
        "  'sct[selection=random]': { epochs: 2 }",
        'options:',
        '  sct: { k: 4 }',
        "  'sct[scale=0.1]': { seed: 3 }",
        'backbones:',
        `  - { config: ${JSON.stringify(tinyConfig)}, name: tiny }`,
      ].join('\n'),
    );
    const { resolved } = await resolveSuite({ suite: path });
    const byName = Object.fromEntries(resolved.methods.map((method) => [method.name, method.recipe]));
    // Canonical names: keys sorted, values as parsed (0.10 is 0.1).
    expect(Object.keys(byName)).toEqual(['sct', 'sct[selection=random]', 'sct[scale=0.1]', 'gated-prompt[hardGates=true]', 'gated-prompt[gates=false]', 'spt-deep[init=max-pool]', 'vpt-shallow[numPrompts=100]']);
    expect(byName.sct).toMatchObject({ method: 'sct', epochs: 3, batchSize: 8, options: { k: 4 } });
    // The base's recipe overrides and options carry over; the variant's own come last.
    expect(byName['sct[selection=random]']).toMatchObject({ method: 'sct', epochs: 2, batchSize: 8, options: { k: 4, selection: 'random' }, grid: RECIPES.sct!.grid });
    expect(byName['sct[scale=0.1]']!.options).toEqual({ k: 4, scale: 0.1, seed: 3 });
    expect(byName['gated-prompt[hardGates=true]']).toMatchObject({ method: 'gated-prompt', batchSize: 64, options: { numPrompts: 100, gateInit: 5, dropout: 0.1, hardGates: true } });
    expect(byName['gated-prompt[gates=false]']!.options).toMatchObject({ gates: false });
    expect(byName['spt-deep[init=max-pool]']).toMatchObject({ method: 'vpt-deep', optimizer: 'adamw', ema: 0.9999, options: { init: 'max-pool', numPrompts: 20 } });
    expect(byName['vpt-shallow[numPrompts=100]']).toMatchObject({ method: 'vpt-shallow', options: { numPrompts: 100 } });
    // Each variant is its own job, under a file-safe id; a plain method's id and its suite's hash do not change.
    expect(suiteJobs(resolved).map((job) => [job.method, job.id]).filter(([method]) => method!.startsWith('sct'))).toEqual([
      ['sct[scale=0.1]', 'tiny__vtab-eurosat__sct@scale=0.1__seed42'],
      ['sct[selection=random]', 'tiny__vtab-eurosat__sct@selection=random__seed42'],
      ['sct', 'tiny__vtab-eurosat__sct__seed42'],
    ]);
    const plain = await resolveSuite({ suite: 'fgvc', methods: ['sct', 'vpt-deep'], backbone: { config: tinyConfig, weights: null } });
    expect(plain.resolved.methods.map((method) => Object.keys(method))).toEqual([['name', 'recipe'], ['name', 'recipe']]);
    expect(plain.resolved.methods[0]).toEqual({ name: 'sct', recipe: recipeFor('sct', 'supervised') });
    // The command line takes variants too, and refuses the same variant spelled twice.
    const cli = await resolveSuite({ suite: 'fgvc', methods: ['sct[selection=random,scale=1]', 'sct'], backbone: { config: tinyConfig, weights: null } });
    expect(cli.resolved.methods.map((method) => method.name)).toEqual(['sct[scale=1,selection=random]', 'sct']);
    await expect(resolveSuite({ suite: 'fgvc', methods: ['sct[scale=1,selection=random]', 'sct[selection=random,scale=1.0]'], backbone: { config: tinyConfig, weights: null } })).rejects.toThrow(/--methods must not repeat a method/);
  });

  it('names the variant, option, value and rule of a malformed variant', async () => {
    const backbone = { config: tinyConfig, weights: null };
    const bad = (methods: string[]) => resolveSuite({ suite: 'fgvc', methods, backbone });
    await expect(bad(['lasso[k=1]'])).rejects.toThrow(/^--methods: each must be one of linear, .*, optionally with options as name\[key=value,...\], got "lasso\[k=1\]"$/);
    await expect(bad(['sct[selection]'])).rejects.toThrow(/^method sct\[selection\]: option selection must be one value of letters, digits and \. _ \+ - \(no , \[ \] =\), got ""$/);
    await expect(bad(['sct[k=1,k=2]'])).rejects.toThrow(/^method sct\[k=1,k=2\]: option k is given twice, got "2"$/);
    await expect(bad(['sct[Selection-x=1]'])).rejects.toThrow(/^method sct\[Selection-x=1\]: option Selection-x must be key=value with a camelCase key/);
    const file = (content: string) => resolveSuite({ suite: suiteFile(`suite: vtab-1k\n${content}`), backbone });
    await expect(file("methods: ['sct[scale=0.5]']\noptions: { 'sct[scale=0.5]': { scale: 0.2 } }")).rejects.toThrow(/: options.sct\[scale=0.5\].scale is fixed by the method's name \(scale=0.5\), got 0.2$/);
    await expect(file("methods: ['sct[scale=0.5]']\noptions: { vqt: { numQueries: 2 } }")).rejects.toThrow(/: options.vqt must name one of the file's methods \(sct\[scale=0.5\]\) or a variant's base/);
    await expect(file("methods: ['sct[scale=0.5]', 'sct[scale=.5]']")).rejects.toThrow(/: methods\[1\] must not repeat an earlier entry, got "sct\[scale=0.5\]"/);
  });

  it('gives the demo suite its tasks, both committed backbones, every method and its shortened recipes', async () => {
    const { resolved, weightPaths } = await resolveSuite({ suite: 'demo' });
    expect(resolved.tasks).toEqual([
      { task: 'fmnist-unseen', dataset: 'fashion-mnist', group: 'natural' },
      { task: 'fmnist-rotation', dataset: 'fashion-mnist', group: 'structured' },
    ]);
    // Every one-stage method: the demo has no shortened recipes for two-stage methods' first stages.
    expect(resolved.methods.map((method) => method.name)).toEqual(Object.keys(RECIPES).filter((name) => RECIPES[name]!.firstStage === undefined));
    expect(resolved.seeds).toEqual(DEMO_SEEDS);
    expect(resolved.backbones.map((backbone) => [backbone.name, backbone.weights, backbone.config.embedDim])).toEqual([
      ['mae', 'model.safetensors', 64],
      ['supervised', 'model.safetensors', 64],
    ]);
    expect(weightPaths.get('supervised')).toMatch(/demo\/backbones\/supervised\/model\.safetensors$/);
    for (const { name, recipe } of resolved.methods) {
      // The paper's optimiser and label smoothing, a one-point grid at the demo's rate, no EMA.
      expect(recipe, name).toMatchObject({ optimizer: RECIPES[name]!.optimizer, epochs: DEMO_EPOCHS, batchSize: DEMO_BATCH_SIZE, ema: null, labelSmoothing: RECIPES[name]!.labelSmoothing });
      expect(recipe.grid, name).toEqual({ learningRates: [DEMO_LEARNING_RATES[name]], weightDecays: [0] });
    }
    expect(resolved.methods.find((method) => method.name === 'sct')!.recipe.options).toEqual({ k: 8 });
    expect(resolved.methods.find((method) => method.name === 'spt-deep')!.recipe.options).toEqual({ init: 'kmeans', numPrompts: 8 });
    // A suite file on the demo overrides its recipes like any other suite's.
    const searched = await resolveSuite({ suite: fileURLToPath(new URL('../../examples/demo-search.yaml', import.meta.url)) });
    expect(searched.resolved.tasks.map((task) => task.task)).toEqual(['fmnist-unseen']);
    expect(searched.resolved.backbones.map((backbone) => backbone.name)).toEqual(['mae', 'supervised']);
    expect(searched.resolved.methods.find((method) => method.name === 'vqt')!.recipe).toMatchObject({ epochs: DEMO_EPOCHS, grid: { learningRates: [0.02, 0.005, 0.001], weightDecays: [0] } });
  });

  it('accepts the example suite file as written', async () => {
    const example = fileURLToPath(new URL('../../examples/vtab-1k-quick.yaml', import.meta.url));
    const { resolved } = await resolveSuite({ suite: example, backbone: { config: 'vit_base_patch16_224', weights: null } });
    expect(resolved.methods.map((method) => method.name)).toEqual(['linear', 'vpt-deep', 'gated-prompt', 'vqt']);
    expect(resolved.methods[2]!.recipe.grid).toEqual({ learningRates: [0.1], weightDecays: [0] });
  });

  it('names the file, field, value and rule of every bad suite-file field', async () => {
    const bad = async (content: string, message: RegExp, extension = 'yaml') => {
      const path = suiteFile(content, extension);
      await expect(resolveSuite({ suite: path, backbone: { config: 'vit_tiny_patch16_224', weights: null } })).rejects.toThrow(message);
      await expect(resolveSuite({ suite: path, backbone: { config: 'vit_tiny_patch16_224', weights: null } })).rejects.toThrow(path);
    };
    await bad('suite: vtab-1k\nmethods: [linear]\nepoch: 3', /: epoch is not a known field \(fields: suite, family, tasks, .*\), got 3/);
    await bad('suite: imagenet\nmethods: [linear]', /: suite must be one of demo, fgvc, vtab-1k, ade20k, got "imagenet"/);
    await bad('suite: vtab-1k\nmethods: [linear, lasso]', /: methods\[1\] must be one of linear, .*, got "lasso"/);
    await bad('suite: vtab-1k\nmethods: [linear, linear]', /: methods\[1\] must not repeat an earlier entry, got "linear"/);
    await bad('suite: vtab-1k\ntasks: [cub]\nmethods: [linear]', /: tasks\[0\] must be one of vtab-caltech101, .*, got "cub"/);
    await bad('suite: vtab-1k\nmethods: [linear]\nepochs: 0', /: epochs must be an integer >= 1, got 0/);
    await bad('suite: vtab-1k\nmethods: [linear]\nseeds: []', /: seeds must be a non-empty list, got \[\]/);
    await bad('suite: vtab-1k\nmethods: [linear]\ngrid: { learningRates: [-1], weightDecays: [0] }', /: grid.learningRates\[0\] must be a positive number, got -1/);
    await bad('suite: vtab-1k\nmethods: [linear]\ngrid: { learningRates: [1] }', /: grid must give both learningRates and weightDecays/);
    await bad('suite: vtab-1k\nmethods: [linear]\nrecipes: { linear: { optimizer: adam } }', /: recipes.linear.optimizer is not a known field \(fields: epochs, warmupEpochs, batchSize, grid, compress, iterations, cropSize, headChannels\), got "adam"/);
    await bad('suite: vtab-1k\nmethods: [linear]\niterations: 10', /: iterations applies to the ade20k suite only, got 10/);
    await bad('suite: ade20k\nmethods: [linear]\nepochs: 10', /: epochs does not apply to ade20k, which trains by iterations \(set iterations\), got 10/);
    await bad('suite: ade20k\nmethods: [linear]\nrecipes: { linear: { grid: { learningRates: [0.1, 0.01], weightDecays: [0] } } }', /: recipes.linear.grid must be one learning rate and one weight decay on ade20k \(no held-out split/);
    await bad('suite: ade20k\nmethods: [linear]\ncropSize: 0', /: cropSize must be an integer >= 1, got 0/);
    await bad('suite: vtab-1k\nmethods: [linear]\noptions: { vqt: { numQueries: 2 } }', /: options.vqt must name one of the file's methods \(linear\)/);
    await bad('suite: vtab-1k\nmethods: [linear]\nbackbones: [{ config: x.json, weight: y }]', /: backbones\[0\].weight is not a known field/);
    await bad('{"suite": "vtab-1k", "methods": ["linear"],}', /not valid JSON/, 'json');
    await bad('suite: [vtab-1k', /not valid YAML/);
  });

  it('refuses unknown suites and methods, and the methods segmentation cannot run, in one line', async () => {
    const backbone = { config: 'vit_tiny_patch16_224', weights: null };
    await expect(resolveSuite({ suite: 'imagenet', methods: ['linear'], backbone })).rejects.toThrow(/--suite must be one of demo, fgvc, vtab-1k, ade20k or a .json/);
    await expect(resolveSuite({ suite: 'fgvc', methods: ['lasso'], backbone })).rejects.toThrow(/--methods: each must be one of linear, .*, got "lasso"/);
    await expect(resolveSuite({ suite: 'fgvc', backbone })).rejects.toThrow(/--methods is required/);
    await expect(resolveSuite({ suite: 'ade20k', methods: ['linear', 'vqt'], backbone })).rejects.toThrow(/^method vqt cannot run on ade20k: VQT's queries summarise each block without changing its patch tokens/);
    await expect(resolveSuite({ suite: 'ade20k', methods: ['sct'], backbone })).rejects.toThrow(/^method sct cannot run on ade20k: SCT chooses its channels by a class-aware score/);
    await expect(resolveSuite({ suite: 'fgvc', methods: ['linear'], backbone: { config: 'vit_huge', weights: null } })).rejects.toThrow(/--backbone must be one of/);
  });
});

describe('suiteJobs and shards', () => {
  it('sorts the job ids and splits them round-robin into disjoint shards that cover the suite', async () => {
    const { resolved } = await resolveSuite({ suite: 'fgvc', methods: ['linear', 'vqt', 'sct'], seeds: [42, 44], backbone: { config: 'vit_base_patch16_224', weights: null } });
    const jobs = suiteJobs(resolved);
    expect(jobs).toHaveLength(5 * 3 * 2);
    expect(jobs.map((job) => job.id)).toEqual(jobs.map((job) => job.id).sort());
    expect(jobs[0]).toEqual({ id: 'vit_base_patch16_224__cub__linear__seed42', method: 'linear', task: 'cub', group: 'fgvc', seed: 42, backbone: 'vit_base_patch16_224' });
    const shards = [0, 1, 2, 3].map((index) => shardJobs(jobs, parseShard(`${index}/4`)).map((job) => job.id));
    expect(shards.map((shard) => shard.length)).toEqual([8, 8, 7, 7]);
    expect(shards.flat().sort()).toEqual(jobs.map((job) => job.id));
    expect(shardJobs(jobs, parseShard('1/4')).map((job) => job.id)).toEqual(shards[1]);
    for (const bad of ['4/4', '1', '-1/2', '0/0', 'a/b']) expect(() => parseShard(bad)).toThrow(/--shard must be i\/n with 0 <= i < n/);
  });

  it('has a recipe for every method a suite names, each from its paper', () => {
    for (const [name, recipe] of Object.entries(RECIPES)) {
      expect(recipe.epochs, name).toBe(100);
      expect(recipe.grid.learningRates.length * recipe.grid.weightDecays.length, name).toBeGreaterThan(0);
      expect(recipe.source, name).not.toBe('');
    }
    expect(RECIPES.sct!.labelSmoothing).toEqual({ natural: 0.1, specialized: 0.1, 'vtab-kitti': 0.1 });
    expect(RECIPES['spt-deep']!.options).toEqual({ init: 'kmeans', numPrompts: 20 });
  });
});

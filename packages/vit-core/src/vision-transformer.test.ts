import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from './errors';
import type { BlockContext, MethodDefinition, VitExtension } from './extension';
import { layerNorm } from './ops';
import { MAX_VIT_PARAMETERS, resolveVitConfig } from './config';
import { TRAINABLE_POLICIES, applyTrainablePolicy, countDeclaredParameters, countParameters, declaredVariables } from './trainable';
import type { HeadOptions } from './vision-transformer';
import { VisionTransformer } from './vision-transformer';

const TINY = { imgSize: 32, patchSize: 8, embedDim: 32, depth: 2, numHeads: 4, numClasses: 10 } as const;

function images(batch: number, seed = 1, size = 32): tf.Tensor4D {
  return tf.randomNormal([batch, 3, size, size], 0, 1, 'float32', seed);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('VisionTransformer', () => {
  let model: VisionTransformer;
  let input: tf.Tensor4D;
  let tensorsBefore: number;

  beforeEach(() => {
    tensorsBefore = tf.memory().numTensors;
    model = new VisionTransformer(TINY, { seed: 3 });
    input = images(2);
  });
  afterEach(() => {
    input.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('computes logits, features and intermediates of the right shapes', () => {
    const logits = model.forward(input);
    const features = model.forwardFeatures(input);
    const { features: last, intermediates } = model.forwardIntermediates(input, { indices: [0, -1] });
    const tokens = model.forwardIntermediates(input, { indices: [1], format: 'tokens' });
    expect(logits.shape).toEqual([2, 10]);
    expect(features.shape).toEqual([2, 17, 32]);
    expect(intermediates.map((grid) => grid.shape)).toEqual([[2, 32, 4, 4], [2, 32, 4, 4]]);
    expect(maxAbsDiff(last, features)).toBe(0);
    expect(tokens.intermediates[0]!.shape).toEqual([2, 17, 32]);
    tf.dispose([logits, features, last, intermediates, tokens.features, tokens.intermediates]);
  });

  it('stages compose to the same logits as forward', () => {
    const logits = model.forward(input);
    const features = model.forwardFeatures(input);
    const staged = model.forwardHead(features);
    expect(maxAbsDiff(staged, logits)).toBe(0);
    tf.dispose([logits, features, staged]);
  });

  it('leaves no tensor behind in any stage', () => {
    const before = tf.memory().numTensors;
    tf.dispose([model.forward(input), model.embed(input), model.embedPatches(input)]);
    const { features, intermediates } = model.forwardIntermediates(input, { indices: [0, 1], norm: true });
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([features, intermediates]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('embeds patches in raster order as a strided convolution does', () => {
    const patches = model.embedPatches(input);
    // Patch (row 1, column 2) covers pixels [8..15] x [16..23]; compute it by hand from the kernel.
    const weight = model.patchEmbed.weight.variable; // [C*p*p, D]
    const bias = model.patchEmbed.bias!.variable;
    const manual = tf.tidy(() => {
      const patch = tf.reshape(tf.slice(input, [0, 0, 8, 16], [-1, -1, 8, 8]), [2, 3 * 64]);
      return tf.add(tf.matMul(patch, weight as tf.Tensor2D), bias);
    });
    const picked = tf.tidy(() => tf.squeeze(tf.slice(patches, [0, 1 * 4 + 2, 0], [-1, 1, -1]), [1]));
    expect(maxAbsDiff(picked, manual)).toBeLessThan(1e-5);
    tf.dispose([patches, manual, picked]);
  });

  it('refuses images of the wrong shape with a message naming the expected layout', () => {
    const wrong = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
    expect(() => model.forward(wrong)).toThrow(ShapeError);
    expect(() => model.forward(wrong)).toThrow(/\[batch, 3, 32, 32\] \(NCHW\), got \[2, 32, 32, 3\]/);
    wrong.dispose();
  });

  it('rejects out-of-range intermediate indices', () => {
    expect(() => model.forwardIntermediates(input, { indices: [2] })).toThrow(/indices must hold block indices in \[-2, 1\]/);
  });

  it('pools the mean of every non-CLS token when globalPool is avg, with fc_norm after pooling', () => {
    const avg = new VisionTransformer({ ...TINY, globalPool: 'avg' }, { seed: 3 });
    expect(avg.norm).toBeNull();
    expect(avg.fcNorm).not.toBeNull();
    const tokens = avg.forwardFeatures(input);
    const pooled = tf.tidy(() =>
      layerNorm(
        tf.mean(tf.slice(tokens, [0, 1, 0], [-1, -1, -1]), 1),
        avg.fcNorm!.weight.variable as tf.Tensor1D,
        avg.fcNorm!.bias.variable as tf.Tensor1D,
        1e-6,
      ),
    );
    const expected = tf.tidy(() => tf.add(tf.matMul(pooled, avg.head!.weight.variable as tf.Tensor2D), avg.head!.bias!.variable));
    const logits = avg.forward(input);
    expect(maxAbsDiff(logits, expected)).toBeLessThan(1e-5);
    tf.dispose([tokens, pooled, expected, logits]);
    avg.dispose();
  });

  it('drop path is off in evaluation and reproducible for a seed in training', () => {
    const droppy = new VisionTransformer({ ...TINY, dropPathRate: 0.5 }, { seed: 3 });
    const plain = model.forward(input);
    const evaluation = droppy.forward(input);
    const first = droppy.forward(input, { training: true, seed: 7 });
    const again = droppy.forward(input, { training: true, seed: 7 });
    const other = droppy.forward(input, { training: true, seed: 8 });
    expect(maxAbsDiff(evaluation, plain)).toBe(0);
    expect(maxAbsDiff(first, again)).toBe(0);
    expect(maxAbsDiff(first, other)).toBeGreaterThan(0);
    tf.dispose([plain, evaluation, first, again, other]);
    droppy.dispose();
  });

  it('drop path draws per image: a batch split at imageOffset gives the whole batch’s rows', () => {
    const droppy = new VisionTransformer({ ...TINY, dropPathRate: 0.5 }, { seed: 3 });
    const batch = images(5, 2);
    const whole = droppy.forward(batch, { training: true, seed: 7 });
    const head = tf.slice(batch, [0, 0, 0, 0], [3, -1, -1, -1]);
    const tail = tf.slice(batch, [3, 0, 0, 0], [2, -1, -1, -1]);
    const parts = tf.tidy(() => tf.concat([droppy.forward(head, { training: true, seed: 7 }), droppy.forward(tail, { training: true, seed: 7, imageOffset: 3 })]));
    expect(maxAbsDiff(parts, whole)).toBeLessThan(1e-6);
    // The tail drawn as if it were the batch's start gets other masks.
    const misplaced = droppy.forward(tail, { training: true, seed: 7 });
    const wholeTail = tf.slice(whole, [3, 0], [2, -1]);
    expect(maxAbsDiff(misplaced, wholeTail)).toBeGreaterThan(1e-4);
    tf.dispose([batch, whole, head, tail, parts, misplaced, wholeTail]);
    droppy.dispose();
  });

  it('is reproducible with the default seed 0, which tfjs alone would take as "unseeded"', () => {
    const [a, b] = [new VisionTransformer(TINY), new VisionTransformer(TINY)];
    expect(a.patchEmbed.weight.variable.dataSync()).toEqual(b.patchEmbed.weight.variable.dataSync());
    a.dispose();
    b.dispose();
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const same = new VisionTransformer(TINY, { seed: 3 });
    const other = new VisionTransformer(TINY, { seed: 4 });
    const [a, b, c] = [model.forward(input), same.forward(input), other.forward(input)];
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(0);
    tf.dispose([a, b, c]);
    same.dispose();
    other.dispose();
  });

  it('resets the head to a new class count, keeping its trainable flag; the vpt init has the prior bias', () => {
    applyTrainablePolicy(model, 'linear');
    model.resetHead(5, { init: 'vpt', seed: 1 });
    expect(model.numClasses).toBe(5);
    expect(model.head!.weight.variable.trainable).toBe(true);
    expect(Array.from(model.head!.bias!.variable.dataSync())).toEqual(new Array(5).fill(Math.fround(-Math.log(99))));
    const logits = model.forward(input);
    expect(logits.shape).toEqual([2, 5]);
    logits.dispose();
    expect(() => model.resetHead(-1)).toThrow(/numClasses must be an integer >= 0, got -1/);
  });

  it('initialises a fresh head as each official code does: timm (its std), vpt, torch (uniform +-1/sqrt(D)), zeros', () => {
    const values = (options: HeadOptions) => {
      model.resetHead(50, { seed: 7, ...options });
      return { weight: Array.from(model.head!.weight.variable.dataSync()), bias: Array.from(model.head!.bias!.variable.dataSync()) };
    };
    const std = (xs: number[]) => Math.sqrt(xs.reduce((sum, x) => sum + x * x, 0) / xs.length);
    const timm = values({ init: 'timm' });
    expect(std(timm.weight)).toBeGreaterThan(0.015);
    expect(std(timm.weight)).toBeLessThan(0.02);
    expect(timm.bias.every((b) => b === 0)).toBe(true);
    const narrow = values({ init: 'timm', std: 0.01 });
    expect(std(narrow.weight)).toBeGreaterThan(0.0075);
    expect(std(narrow.weight)).toBeLessThan(0.01);
    // D = 32 in the tiny config: PyTorch's nn.Linear bound 1/sqrt(32).
    const torch = values({ init: 'torch' });
    const bound = 1 / Math.sqrt(32);
    for (const x of [...torch.weight, ...torch.bias]) expect(Math.abs(x)).toBeLessThanOrEqual(bound);
    expect(Math.max(...torch.weight.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(new Set(torch.bias).size).toBe(50);
    const vpt = values({ init: 'vpt' });
    expect(std(vpt.weight)).toBeGreaterThan(0.8 * Math.sqrt(2 / 50));
    expect(std(vpt.weight)).toBeLessThan(1.2 * Math.sqrt(2 / 50));
    expect(values({ init: 'zeros' }).weight.every((w) => w === 0)).toBe(true);
    expect(() => model.resetHead(5, { init: 'vpt', std: 0.01 })).toThrow(/applies to the 'timm' head init only/);
    expect(model.numClasses).toBe(50);
    expect(() => model.resetHead(5, { init: 'xavier' as never })).toThrow(/init must be one of timm, vpt, torch, zeros, got "xavier"/);
    expect(() => model.resetHead(5, { std: 0 })).toThrow(/std must be a finite number > 0, got 0/);
  });

  it('returns pooled features without a head when numClasses is 0', () => {
    const headless = new VisionTransformer({ ...TINY, numClasses: 0 });
    const out = headless.forward(input);
    expect(out.shape).toEqual([2, 32]);
    out.dispose();
    headless.dispose();
  });

  it('refuses use after dispose', () => {
    const gone = new VisionTransformer(TINY);
    gone.dispose();
    expect(() => gone.forward(input)).toThrow(/model must not be used after dispose\(\)/);
  });
});

/** An extension that records each call and changes the computation in a known way. */
function recordingExtension(name: string, calls: string[]): VitExtension {
  return {
    name,
    enterBlock: (tokens, context) => {
      calls.push(`${name}:enter${context.blockIndex}`);
      return tokens;
    },
    residual: (site, stream, context) => {
      calls.push(`${name}:residual-${site}${context.blockIndex}`);
      return stream;
    },
  };
}

describe('extension points', () => {
  let model: VisionTransformer;
  let input: tf.Tensor4D;
  let baseline: tf.Tensor2D;

  beforeEach(() => {
    model = new VisionTransformer(TINY, { seed: 5 });
    input = images(2, 9);
    baseline = model.forward(input);
  });
  afterEach(() => {
    tf.dispose([input, baseline]);
    model.dispose();
  });

  /** Attaches, checks that the logits change, detaches and checks they are back bit for bit. */
  function expectChangesThenRestores(extension: VitExtension): void {
    model.attach(extension);
    const changed = model.forward(input);
    expect(maxAbsDiff(changed, baseline)).toBeGreaterThan(1e-4);
    model.detach(extension);
    const restored = model.forward(input);
    expect(maxAbsDiff(restored, baseline)).toBe(0);
    tf.dispose([changed, restored]);
  }

  it('inserting tokens at block 0 keeps the patch tokens last and changes the result', () => {
    const prompts = tf.randomNormal([1, 3, 32], 0, 1, 'float32', 2);
    const extension: VitExtension = {
      name: 'prompts',
      enterBlock: (tokens, context) =>
        context.blockIndex === 0
          ? tf.concat([tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), tf.broadcastTo(prompts, [2, 3, 32]), tf.slice(tokens, [0, 1, 0], [-1, -1, -1])], 1)
          : tokens,
    };
    model.attach(extension);
    const features = model.forwardFeatures(input);
    const { intermediates } = model.forwardIntermediates(input, { indices: [0] });
    expect(features.shape).toEqual([2, 20, 32]);
    expect(intermediates[0]!.shape).toEqual([2, 32, 4, 4]);
    model.detach(extension);
    tf.dispose([features, intermediates]);
    expectChangesThenRestores(extension);
    prompts.dispose();
  });

  it('exitBlock sees the block input and output (a gate of 0 makes blocks the identity on all tokens)', () => {
    const identity: VitExtension = { name: 'bypass', exitBlock: (blockInput) => blockInput };
    model.attach(identity);
    const features = model.forwardFeatures(input);
    const embedded = model.embed(input);
    const normed = tf.tidy(() => layerNorm(embedded, model.norm!.weight.variable as tf.Tensor1D, model.norm!.bias.variable as tf.Tensor1D, 1e-6));
    expect(maxAbsDiff(features, normed)).toBeLessThan(1e-6);
    model.detach(identity);
    tf.dispose([features, embedded, normed]);
    expectChangesThenRestores(identity);
  });

  it('attentionScale multiplies the logits: a huge scale and a tensor scale both take effect', () => {
    const temperature = tf.scalar(0.25);
    expectChangesThenRestores({ name: 'temperature', attentionScale: () => temperature });
    // Scale 1 from two extensions (2 * 0.5) leaves the result unchanged up to rounding.
    const double: VitExtension = { name: 'double', attentionScale: () => 2 };
    const half: VitExtension = { name: 'half', attentionScale: () => tf.scalar(0.5) };
    model.attach(double);
    model.attach(half);
    const same = model.forward(input);
    expect(maxAbsDiff(same, baseline)).toBeLessThan(1e-5);
    model.detach(double);
    model.detach(half);
    tf.dispose([same, temperature]);
  });

  it('linearOutput sees every projection with 2-D input and output', () => {
    const seen = new Map<string, number[][]>();
    const extension: VitExtension = {
      name: 'linear-spy',
      linearOutput: (site, x, y) => {
        seen.set(site, [x.shape, y.shape]);
        return site === 'attn.qkv' ? tf.mul(y, 1.5) : y;
      },
    };
    expectChangesThenRestores(extension);
    expect(Object.fromEntries(seen)).toEqual({
      'patch_embed.proj': [[32, 192], [32, 32]],
      'attn.qkv': [[34, 32], [34, 96]],
      'attn.proj': [[34, 32], [34, 32]],
      'mlp.fc1': [[34, 32], [34, 128]],
      'mlp.fc2': [[34, 128], [34, 32]],
      head: [[2, 32], [2, 10]],
    });
  });

  it('normOutput, branchOutput and residual hooks take effect at their sites', () => {
    expectChangesThenRestores({ name: 'norm', normOutput: (site, y) => (site === 'norm2' ? tf.mul(y, 2) : y) });
    expectChangesThenRestores({
      name: 'adapter',
      branchOutput: (site, branch) => (site === 'mlp' ? tf.add(branch.output, tf.mul(branch.input, 0.1)) : branch.output),
    });
    expectChangesThenRestores({ name: 'channels', residual: (site, stream) => (site === 'attn' ? tf.mul(stream, 0.5) : stream) });
    expectChangesThenRestores({ name: 'features', headInput: (pooled) => tf.mul(pooled, 3) });
  });

  it('calls extensions in attach order and refuses double attachment', () => {
    const calls: string[] = [];
    const first = recordingExtension('a', calls);
    const second = recordingExtension('b', calls);
    model.attach(first);
    model.attach(second);
    expect(() => model.attach(first)).toThrow(ConfigError);
    model.forward(input).dispose();
    expect(calls.slice(0, 6)).toEqual(['a:enter0', 'b:enter0', 'a:residual-attn0', 'b:residual-attn0', 'a:residual-mlp0', 'b:residual-mlp0']);
    model.detach(first);
    model.detach(second);
    expect(() => model.detach(first)).toThrow(/extension is not attached, got "a"/);
  });

  it('an extension can replace the classifier; only one may', () => {
    const classifier: VitExtension = { name: 'own-head', classify: (features) => tf.sum(features, 1, true) as tf.Tensor2D };
    model.attach(classifier);
    const out = model.forward(input);
    expect(out.shape).toEqual([2, 1]);
    expect(() => model.attach({ name: 'other-head', classify: (features) => features })).toThrow(/replaces the classifier/);
    model.detach(classifier);
    out.dispose();
  });

  it('query tokens leave the backbone tokens bit-identical and attend to the block tokens only', () => {
    const queries = tf.randomNormal([1, 2, 32], 0, 1, 'float32', 4);
    const outputs: tf.Tensor3D[] = [];
    const extension: VitExtension = {
      name: 'queries',
      queryTokens: (batch) => tf.broadcastTo(queries, [batch, 2, 32]) as tf.Tensor3D,
      queryOutputs: (out) => outputs.push(tf.keep(out)),
    };
    const plainFeatures = model.forwardFeatures(input);
    model.attach(extension);
    const withQueries = model.forwardFeatures(input);
    expect(maxAbsDiff(withQueries, plainFeatures)).toBe(0);
    expect(outputs.map((out) => out.shape)).toEqual([[2, 2, 32], [2, 2, 32]]);

    // Block 0's query outputs equal the block's query path on keys/values of the embedded tokens,
    // and do not depend on the other query: a query alone gives the same output.
    const context: BlockContext = { training: false, seed: undefined, imageOffset: 0, recompute: false, state: new Map(), blockIndex: 0, depth: 2 };
    const tokens = model.embed(input);
    const alone = tf.tidy(() => {
      const kv = model.blocks[0]!.keysValues(tokens, context);
      return model.blocks[0]!.forwardQueries(tf.broadcastTo(tf.slice(queries, [0, 0, 0], [1, 1, 32]), [2, 1, 32]) as tf.Tensor3D, kv, context);
    });
    const first = tf.slice(outputs[0]!, [0, 0, 0], [-1, 1, -1]);
    expect(maxAbsDiff(first, alone)).toBeLessThan(1e-5);
    model.detach(extension);
    tf.dispose([queries, plainFeatures, withQueries, tokens, alone, first, outputs]);
  });
});

describe('gradients', () => {
  it('match central finite differences for every weight under full fine-tuning', () => {
    const model = new VisionTransformer({ ...TINY, depth: 1 }, { seed: 11 });
    // Weights at the scale of a trained model (timm's init is tiny, which makes LayerNorm of the
    // CLS token strongly non-linear at any usable step): N(0, 0.2), LayerNorm gains near 1.
    model.parameters.forEach((parameter, index) => {
      const isGain = /norm\d?\.weight$/.test(parameter.key);
      const noise = tf.randomNormal(parameter.variable.shape, 0, isGain ? 0.1 : 0.2, 'float32', 100 + index);
      parameter.variable.assign(isGain ? tf.add(noise, 1) : noise);
      noise.dispose();
    });
    applyTrainablePolicy(model, 'full');
    const input = images(2, 12);
    const labels = tf.oneHot(tf.tensor1d([3, 7], 'int32'), 10);
    const loss = () => tf.losses.softmaxCrossEntropy(labels, model.forward(input)) as tf.Scalar;
    const variables = model.parameters.map((parameter) => parameter.variable);
    const { value, grads } = tf.variableGrads(loss, variables);
    value.dispose();
    // Directional derivative along a random unit direction per weight; float32 loss, step 1e-3.
    for (const parameter of model.parameters) {
      const variable = parameter.variable;
      const direction = tf.tidy(() => {
        const raw = tf.randomNormal(variable.shape, 0, 1, 'float32', 21);
        return tf.div(raw, tf.norm(raw));
      });
      const original = variable.clone();
      const epsilon = 1e-3;
      variable.assign(tf.add(original, tf.mul(direction, epsilon)));
      const plus = tf.tidy(() => loss().dataSync()[0]!);
      variable.assign(tf.sub(original, tf.mul(direction, epsilon)));
      const minus = tf.tidy(() => loss().dataSync()[0]!);
      variable.assign(original);
      const numeric = (plus - minus) / (2 * epsilon);
      const analytic = tf.tidy(() => tf.sum(tf.mul(grads[variable.name]!, direction)).dataSync()[0]!);
      expect(Math.abs(numeric - analytic), parameter.key).toBeLessThanOrEqual(5e-4 + 1e-2 * Math.abs(analytic));
      tf.dispose([direction, original]);
    }
    tf.dispose([input, labels, Object.values(grads)]);
    model.dispose();
  });
});

describe('trainable policies and parameter counts', () => {
  it('count every parameter of ViT-B/16 with a 1000-class head exactly', () => {
    const model = new VisionTransformer({ embedDim: 768, depth: 12, numHeads: 12 }, { weights: 'zeros' });
    applyTrainablePolicy(model, 'linear');
    expect(countParameters(model)).toEqual({ total: 86_567_656, trainable: 769_000, extra: 0, trainableBackbone: 0 });
    applyTrainablePolicy(model, 'bias');
    expect(countParameters(model).trainableBackbone).toBe(102_912);
    applyTrainablePolicy(model, 'full');
    expect(countParameters(model).trainable).toBe(86_567_656);
    applyTrainablePolicy(model, 'frozen');
    expect(countParameters(model).trainable).toBe(0);
    model.dispose();
  });

  it('count the same from shapes alone, under every policy, with declared method variables', () => {
    const configs = [
      resolveVitConfig({ embedDim: 768, depth: 12, numHeads: 12 }),
      resolveVitConfig({ ...TINY, qkvBias: false, classToken: false, globalPool: 'avg', numClasses: 0 }),
    ];
    const declared = new Map([
      ['prompts', { shape: [1, 4, 32] }],
      ['head.weight', { shape: [32, 3], classifier: true }],
    ]);
    for (const config of configs) {
      const model = new VisionTransformer(config, { weights: 'zeros' });
      for (const policy of TRAINABLE_POLICIES) {
        applyTrainablePolicy(model, policy);
        expect(countDeclaredParameters(config, policy), policy).toEqual(countParameters(model));
      }
      model.dispose();
    }
    const withMethod = countDeclaredParameters(configs[1]!, 'linear', [declared]);
    expect(withMethod).toMatchObject({ extra: 128, trainable: 128 + 96, trainableBackbone: 0 });
    expect(countDeclaredParameters(configs[1]!, 'frozen').total + 128).toBe(withMethod.total);
  });

  it('refuse declared method variables over the size limit before anything is built', () => {
    const definition = {
      name: 'huge',
      variableShapes: (config: { embedDim: number }, options: Readonly<Record<string, unknown>>) => new Map([['table', { shape: [options['rows'] as number, config.embedDim] }]]),
    } as unknown as MethodDefinition;
    const config = resolveVitConfig(TINY);
    expect([...declaredVariables(definition, config, { rows: 10 }).keys()]).toEqual(['table']);
    const rows = MAX_VIT_PARAMETERS / 32 + 1;
    expect(() => declaredVariables(definition, config, { rows })).toThrow(ConfigError);
    expect(() => declaredVariables(definition, config, { rows })).toThrow(`huge options must give at most ${MAX_VIT_PARAMETERS} parameters (${rows * 32} declared)`);
  });

  it('give gradients only to the trainable variables', () => {
    const model = new VisionTransformer(TINY, { seed: 2 });
    const input = images(2, 3);
    for (const [policy, expected] of [
      ['linear', ['head.weight', 'head.bias']],
      ['bias', [...model.parameters.map((p) => p.key).filter((key) => key.endsWith('.bias')), 'head.weight']],
    ] as const) {
      applyTrainablePolicy(model, policy);
      const { value, grads } = tf.variableGrads(() => tf.sum(model.forward(input)) as tf.Scalar);
      value.dispose();
      const names = new Map(model.parameters.map((p) => [p.variable.name, p.key]));
      const received = Object.keys(grads).map((name) => names.get(name));
      expect(received.sort()).toEqual([...expected].sort());
      tf.dispose(Object.values(grads));
    }
    expect(() => applyTrainablePolicy(model, 'most' as never)).toThrow(/policy must be one of frozen, linear, bias, full, got "most"/);
    input.dispose();
    model.dispose();
  });
});

describe('frozen-path stages for query methods', () => {
  it('forwardKeysValues returns the features of forwardFeatures and each block’s keys and values; pool is the head’s input', () => {
    const model = new VisionTransformer(TINY, { seed: 4 });
    const input = images(2, 5);
    const before = tf.memory().numTensors;
    const { features, keysValues } = model.forwardKeysValues(input);
    const plain = model.forwardFeatures(input);
    expect(maxAbsDiff(features, plain)).toBe(0);
    expect(keysValues.map((kv) => [kv.keys.shape, kv.values.shape])).toEqual([
      [[2, 4, 17, 8], [2, 4, 17, 8]],
      [[2, 4, 17, 8], [2, 4, 17, 8]],
    ]);
    const context: BlockContext = { training: false, seed: undefined, imageOffset: 0, recompute: false, state: new Map(), blockIndex: 1, depth: 2 };
    const blockInput = model.forwardIntermediates(input, { indices: [0], format: 'tokens' });
    const directValues = tf.tidy(() => model.blocks[1]!.keysValues(blockInput.intermediates[0] as tf.Tensor3D, context).values);
    expect(maxAbsDiff(directValues, keysValues[1]!.values)).toBe(0);
    const pooled = model.pool(features);
    const logits = tf.tidy(() => tf.add(tf.matMul(pooled, model.head!.weight.variable as tf.Tensor2D), model.head!.bias!.variable));
    const expected = model.forward(input);
    expect(maxAbsDiff(logits, expected)).toBeLessThan(1e-6);
    tf.dispose([features, keysValues.map((kv) => [kv.keys, kv.values]), plain, blockInput.features, blockInput.intermediates, directValues, pooled, logits, expected]);
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
    model.dispose();
  });
});

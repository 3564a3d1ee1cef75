import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { tfjsGradientImports } from '../../../../tooling/scripts/generate-gradient-list.mjs';
import { MissingGradientError, asMissingGradient } from '../errors';
import { registerGradients } from './register-gradients';
import { TFJS_GRADIENTS } from './tfjs-gradients';

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/**
 * Runs an ES module in a fresh Node process, in this package's folder, with only tfjs-core and its
 * cpu backend: no gradient is registered there (this suite's set-up registers them all), and
 * `@visual-peft/vit-core` is this package's built Node entry, as a user's `import` gets it.
 */
async function runFresh(body: string): Promise<unknown> {
  if (!existsSync(`${packageRoot}dist/node.js`)) throw new Error('dist/node.js is missing: build vit-core first (turbo runs its build before this test)');
  const script = [
    "import '@tensorflow/tfjs-backend-cpu';",
    "import * as tf from '@tensorflow/tfjs-core';",
    "import * as core from '@visual-peft/vit-core';",
    "await tf.setBackend('cpu');",
    `const result = await (async () => { ${body} })();`,
    'console.log(JSON.stringify(result));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--input-type=module', '--eval', script], { cwd: packageRoot });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

const TINY = "{ imgSize: 16, patchSize: 8, embedDim: 16, depth: 1, numHeads: 2, numClasses: 3 }";

describe('registerGradients', () => {
  it("lists exactly the gradients tfjs-core's register_all_gradients registers", () => {
    const imports = tfjsGradientImports();
    const source = readFileSync(`${packageRoot}src/gradients/tfjs-gradients.ts`, 'utf8');
    const ours = [...source.matchAll(/^import \{ (\w+) \} from '@tensorflow\/tfjs-core\/dist\/gradients\/(\w+)\.js';$/gm)].map(([, name, module]) => ({ name, module }));
    expect(ours, 'rerun node tooling/scripts/generate-gradient-list.mjs').toEqual(imports);
    expect(TFJS_GRADIENTS).toHaveLength(imports.length);
    expect(new Set(TFJS_GRADIENTS.map((config) => config.kernelName)).size).toBe(imports.length);
  });

  it('registers nothing where every gradient is registered already (this suite registers them all)', () => {
    expect(registerGradients()).toBe(0);
  });

  it('in a fresh process, new VisionTransformer is enough for tf.variableGrads and an optimiser step', async () => {
    const result = await runFresh(`
      const before = tf.getGradient('RealDiv') !== undefined;
      const model = new core.VisionTransformer(${TINY}, { seed: 1 });
      core.applyTrainablePolicy(model, 'full');
      const again = core.registerGradients();
      const images = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 7);
      const labels = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
      const loss = () => tf.losses.softmaxCrossEntropy(labels, model.forward(images));
      const { value, grads } = tf.variableGrads(loss);
      const finite = Object.values(grads).every((g) => g.dataSync().every(Number.isFinite));
      const head = model.parameter('head.weight').variable;
      const headBefore = head.dataSync().slice();
      tf.train.sgd(0.5).minimize(loss);
      const moved = head.dataSync().some((v, i) => v !== headBefore[i]);
      return { before, again, gradients: Object.keys(grads).length, finite, moved, loss: value.dataSync()[0] };
    `);
    expect(result).toMatchObject({ before: false, again: 0, finite: true, moved: true });
    expect((result as { gradients: number }).gradients).toBeGreaterThan(4);
  });

  it("in a fresh process, a kernel without a gradient is a MissingGradientError naming it", async () => {
    const result = await runFresh(`
      const x = tf.variable(tf.tensor1d([0.5, 1]));
      try {
        core.leanVariableGrads(() => tf.sum(tf.erf(x)), [x]);
        return 'no error';
      } catch (error) {
        return { name: error.name, kernel: error.kernel, message: error.message, typed: error instanceof core.MissingGradientError };
      }
    `);
    expect(result).toMatchObject({ name: 'MissingGradientError', typed: true });
    expect(['Erf', 'Sum']).toContain((result as { kernel: string }).kernel);
    expect((result as { message: string }).message).toMatch(/call registerGradients\(\) from @visual-peft\/vit-core or import @tensorflow\/tfjs/);
  });

  it("in a fresh process, a user's own gradient is kept", async () => {
    const result = await runFresh(`
      tf.registerGradient({ kernelName: 'Erf', inputsToSave: ['x'], gradFunc: (dy, saved) => ({ x: () => tf.mul(dy, tf.fill(saved[0].shape, 42)) }) });
      const registered = core.registerGradients();
      new core.VisionTransformer(${TINY});
      const x = tf.variable(tf.tensor1d([0.5, 1]));
      const { grads } = core.leanVariableGrads(() => tf.sum(tf.erf(x)), [x]);
      return { registered, total: ${TFJS_GRADIENTS.length}, gradient: Array.from(grads[x.name].dataSync()) };
    `);
    expect(result).toEqual({ registered: TFJS_GRADIENTS.length - 1, total: TFJS_GRADIENTS.length, gradient: [42, 42] });
  });
});

describe('asMissingGradient', () => {
  it("turns tfjs's message into a MissingGradientError and leaves other errors alone", () => {
    const raw = new Error('Cannot compute gradient: gradient function not found for RealDiv.');
    const typed = asMissingGradient(raw);
    expect(typed).toBeInstanceOf(MissingGradientError);
    expect((typed as MissingGradientError).kernel).toBe('RealDiv');
    expect((typed as MissingGradientError).cause).toBe(raw);
    const other = new Error('something else');
    expect(asMissingGradient(other)).toBe(other);
  });

  it('leaves no tensor behind after registerGradients', () => {
    const before = tf.memory().numTensors;
    registerGradients();
    expect(tf.memory().numTensors).toBe(before);
  });
});

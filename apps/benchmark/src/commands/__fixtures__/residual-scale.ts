import * as tf from '@tensorflow/tfjs-core';
import type { BranchSite, BranchTensors, BlockContext, Diagnostic, DiagnosticProbe, MethodDefinition, VisionTransformer } from '@visual-peft/vit-core';
import { MethodBase, integer, knownOptions } from '@visual-peft/vit-core';
import { registerMethod } from '../../methods';
import { RECIPES } from '../../suite/recipes';

/**
 * A method no package defines, for the app's tests: a learned scale on each block's MLP branch
 * (initialised at 1), reporting the scales per block and the mean logit on the probe images.
 */
class ResidualScale extends MethodBase<{ seed: number }> {
  readonly name = 'residual-scale';

  constructor(private readonly depth: number, config: { seed: number }) {
    super(config);
    for (let block = 0; block < depth; block += 1) this.addVariable(`scale.${block}`, () => tf.scalar(1));
  }

  branchOutput(site: BranchSite, branch: BranchTensors, context: BlockContext): tf.Tensor3D {
    return site === 'mlp' ? tf.mul(branch.output, this.variable(`scale.${context.blockIndex}`)) : branch.output;
  }

  diagnostics(probe: DiagnosticProbe): Diagnostic[] {
    const values = Array.from({ length: this.depth }, (_, block) => this.variable(`scale.${block}`).dataSync()[0]!);
    const meanLogit = tf.tidy(() => tf.mean(probe.model.forward(probe.images)).dataSync()[0]!);
    return [
      { kind: 'per-block', name: 'mlp-scale', title: 'learned scale of each MLP branch (test method)', firstBlock: 0, values },
      { kind: 'scalar', name: 'probe-mean-logit', title: 'mean logit on the probe images (test method)', value: meanLogit },
    ];
  }
}

export const RESIDUAL_SCALE: MethodDefinition = {
  name: 'residual-scale',
  description: 'test only: a learned scale on each MLP branch',
  policy: 'linear',
  create: (model: VisionTransformer, options) => {
    const { seed = 0 } = knownOptions('residual-scale options', options, ['seed']);
    return new ResidualScale(model.config.depth, { seed: integer('seed', seed, 0) });
  },
  variableShapes: (config, options) => {
    const { seed = 0 } = knownOptions('residual-scale options', options, ['seed']);
    integer('seed', seed, 0);
    return new Map(Array.from({ length: config.depth }, (_, block) => [`scale.${block}`, { shape: [] }]));
  },
};

/** Registers it with the linear probe's recipe, so that `train` and `run` take it by name. */
export function registerResidualScale(): void {
  const { method, ...recipe } = RECIPES.linear!;
  void method;
  registerMethod(RESIDUAL_SCALE, { ...recipe, source: 'test method, trained with the VPT protocol' });
}

import * as tf from '@tensorflow/tfjs-core';
import type { BlockContext, BranchSite, BranchTensors, Diagnostic, VisionTransformer } from '@visual-peft/vit-core';
import { MethodBase } from '@visual-peft/vit-core';
import { describeMethodContract } from './index';

/** A minimal real method for the kit's own test: a learnable per-channel scale after each MLP branch. */
class ChannelScale extends MethodBase<{ seed: number }> {
  readonly name = 'channel-scale';
  private readonly scales: tf.Variable[];

  constructor(model: VisionTransformer) {
    super({ seed: 0 });
    this.scales = model.blocks.map((block) => this.addVariable(`blocks.${block.index}.scale`, () => tf.ones([model.config.embedDim])));
  }

  branchOutput(site: BranchSite, branch: BranchTensors, context: BlockContext): tf.Tensor3D {
    return site === 'mlp' ? tf.mul(branch.output, this.scales[context.blockIndex]!) : branch.output;
  }

  diagnostics(): Diagnostic[] {
    const means = this.scales.map((scale) => tf.tidy(() => tf.mean(scale).dataSync()[0]!));
    return [{ kind: 'per-block', name: 'mean-scale', title: 'mean channel scale of each block', firstBlock: 0, values: means }];
  }
}

describeMethodContract([{ name: 'channel-scale', create: (model) => new ChannelScale(model), expectedParameters: 64 }]);

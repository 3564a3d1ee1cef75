import * as tf from '@tensorflow/tfjs-core';
import type { VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, resolveVitConfig } from '@visual-peft/vit-core';
import { NUM_CLASSES } from './plan';

/** The models measured, made once per tfjs backend: ViT-B's random initialisation takes seconds. */
export class Models {
  private readonly models = new Map<'block' | 'whole', VisionTransformer>();
  private backend: string | null = null;

  get(kind: 'block' | 'whole', config: VitConfig): VisionTransformer {
    if (this.backend !== tf.getBackend()) {
      this.dispose();
      this.backend = tf.getBackend();
    }
    let model = this.models.get(kind);
    if (model === undefined) {
      const shape = kind === 'block' ? { depth: 1, numClasses: 0 } : { numClasses: NUM_CLASSES };
      model = new VisionTransformer(resolveVitConfig({ ...config, ...shape }), { seed: kind === 'block' ? 1 : 2 });
      this.models.set(kind, model);
    }
    return model;
  }

  dispose(): void {
    this.models.forEach((model) => model.dispose());
    this.models.clear();
  }
}

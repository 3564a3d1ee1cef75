/**
 * @deprecated Importing this subpath registers tfjs-core's gradients as a side effect. Call
 * `registerGradients()` from `@visual-peft/vit-core` instead (`new VisionTransformer(...)` already
 * does); this subpath delegates to it and goes in the next release.
 */
import { registerGradients } from '@visual-peft/vit-core';

registerGradients();

import { createTsupConfig } from '@visual-peft/tsup-config';

// The gradients entry delegates to @visual-peft/vit-core, which carries tfjs-core's gradient code.
export default createTsupConfig({ entry: ['src/index.ts', 'src/register-gradients.ts'] });

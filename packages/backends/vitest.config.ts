import { createVitestConfig } from '@visual-peft/vitest-config';

// No shared tfjs set-up here: these tests check that resolving a backend does that work itself.
export default createVitestConfig({ setupFiles: [] });

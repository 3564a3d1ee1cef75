import { createVitestConfig } from '@visual-peft/vitest-config';

export default createVitestConfig();

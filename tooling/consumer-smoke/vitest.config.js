import { createVitestConfig } from '@visual-peft/vitest-config';

// No tfjs set-up here: the scenarios run in their own processes, in the consumer project.
export default createVitestConfig({ include: ['*.test.js'], setupFiles: [], testTimeout: 600_000, hookTimeout: 600_000 });

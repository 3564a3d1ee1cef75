import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVitestConfig } from '@visual-peft/vitest-config';

// Checkpoint hashes computed by tests go to a temporary cache, never the user's (src/suite/input-identity.ts).
export default createVitestConfig({ env: { VISUAL_PEFT_CACHE_DIR: join(tmpdir(), 'visual-peft-bench-test-cache') } });

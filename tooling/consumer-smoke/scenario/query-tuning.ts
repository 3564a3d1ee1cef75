import { VQT_DEFINITION } from '@visual-peft/query-tuning';
import { runSmoke } from './shared.js';

runSmoke('@visual-peft/query-tuning', [{ name: 'vqt', definition: VQT_DEFINITION, options: {} }]).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

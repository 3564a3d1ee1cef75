import { SCT_DEFINITION } from '@visual-peft/channel-tuning';
import { runSmoke } from './shared.js';

// prepare() picks the salient channels from the training data before the first step.
runSmoke('@visual-peft/channel-tuning', [{ name: 'sct', definition: SCT_DEFINITION, options: { k: 4 } }]).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

import { ADAPTER_DEFINITION, ADAPTFORMER_DEFINITION, LORA_DEFINITION, SSF_DEFINITION } from '@visual-peft/adapter-methods';
import { runSmoke } from './shared.js';

runSmoke('@visual-peft/adapter-methods', [
  { name: 'lora', definition: LORA_DEFINITION, options: { rank: 2 } },
  { name: 'adapter', definition: ADAPTER_DEFINITION, options: { bottleneck: 4 } },
  { name: 'ssf', definition: SSF_DEFINITION, options: {} },
  { name: 'adaptformer', definition: ADAPTFORMER_DEFINITION, options: { bottleneck: 4 } },
]).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

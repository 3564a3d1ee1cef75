import { TINY_VIT, describeMethodContract } from '@visual-peft/method-testing';
import { ADAPTER_DEFINITION, ADAPTFORMER_DEFINITION, LORA_DEFINITION, SSF_DEFINITION } from './definitions';

// TINY_VIT: depth 2, width 32, MLP 128.
const DEPTH = TINY_VIT.depth!;
const DIM = TINY_VIT.embedDim!;
const bottleneckCount = (size: number) => DEPTH * (DIM * size + size + size * DIM + DIM);

describeMethodContract([
  { name: 'adapter (bottleneck 8)', declared: { definition: ADAPTER_DEFINITION, options: {} }, expectedParameters: bottleneckCount(8) },
  { name: 'adaptformer (bottleneck 8)', declared: { definition: ADAPTFORMER_DEFINITION, options: { bottleneck: 8 } }, expectedParameters: bottleneckCount(8) },
  {
    name: 'adaptformer (LayerNorm in, scale 0.5)',
    declared: { definition: ADAPTFORMER_DEFINITION, options: { bottleneck: 8, layerNorm: 'in', scale: 0.5 } },
    expectedParameters: bottleneckCount(8) + DEPTH * 2 * DIM,
  },
  {
    name: 'adaptformer (LayerNorm out, no dropout)',
    declared: { definition: ADAPTFORMER_DEFINITION, options: { bottleneck: 4, layerNorm: 'out', dropout: 0 } },
    expectedParameters: bottleneckCount(4) + DEPTH * 2 * DIM,
  },
  { name: 'lora (rank 4)', declared: { definition: LORA_DEFINITION, options: { rank: 4 } }, expectedParameters: DEPTH * 2 * (DIM * 4 + 4 * DIM) },
  { name: 'lora (rank 2, alpha 8)', declared: { definition: LORA_DEFINITION, options: { rank: 2, alpha: 8 } }, expectedParameters: DEPTH * 2 * (DIM * 2 + 2 * DIM) },
  // Per block: norm1, qkv (3D), proj, norm2, fc1 (4D), fc2 = 11D channels; plus patch projection and final norm.
  { name: 'ssf', declared: { definition: SSF_DEFINITION, options: {} }, expectedParameters: 2 * (DEPTH * 11 * DIM + 2 * DIM) },
  { name: 'ssf (avg pool, fc_norm)', declared: { definition: SSF_DEFINITION, options: { initStd: 0 } }, config: { ...TINY_VIT, globalPool: 'avg' }, expectedParameters: 2 * (DEPTH * 11 * DIM + 2 * DIM) },
]);

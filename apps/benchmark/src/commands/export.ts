import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { foldedStateDict } from '@visual-peft/adapter-methods';
import { loadTunedModel, readTunedWeights, restoreTunedTensors, saveTunedWeights } from '@visual-peft/training';
import { withOfficialChannelIndices } from '@visual-peft/channel-tuning';
import type { HostTensor, StateDict, TuningMethod, VitConfig } from '@visual-peft/vit-core';
import {
  CheckpointMismatchError,
  ConfigError,
  FormatError,
  VisionTransformer,
  applyTrainablePolicy,
  fromOfficialNames,
  officialName,
  readCheckpoint,
  serializeSafetensors,
  toOfficialNames,
  writeFileAtomic,
} from '@visual-peft/vit-core';
import { activateBackend } from '../activate-backend';
import { BACKEND_OPTION, backendFlag, integerFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { buildMethod, disposeMethods, findMethod, methodDefinitions } from '../methods';
import { officialNameMappings, officialNames } from '../official-names';
import type { OptionValue } from '../set-options';
import { parseSetOptions } from '../set-options';
import { hasMaeLayout } from './train';

export const EXPORT_USAGE = 'export (--run <train output | store/weights/<job id>> | --tuned <tuned.safetensors>) [--weights <pretrained checkpoint, default: the one the run recorded>] --out <model.safetensors> [--backend auto|tensorflow|wasm|cpu]';
export const IMPORT_USAGE = `import --method <${officialNameMappings().map((names) => names.method).join('|')}> --backbone <preset | config.json> --in <file.safetensors | file.npz> --out <tuned.safetensors> [--classes N] [--set key=value ...] [--channels <channels.json> (sct)] [--backend auto|tensorflow|wasm|cpu]`;

/**
 * The fc_norm of a run saved before runs recorded their backbone: its result's record, else what `train` picks for the
 * checkpoint (an average-pooled config reads an MAE-layout checkpoint's final `norm`).
 */
async function legacyFcNorm(run: string | undefined, fcNorm: boolean, weights: string): Promise<'checkpoint' | 'from-norm' | 'fresh'> {
  if (run !== undefined) {
    try {
      const norm = (JSON.parse(await readFile(join(run, 'result.json'), 'utf8')) as { head?: { norm?: unknown } }).head?.norm;
      if (norm === 'checkpoint' || norm === 'from-norm' || norm === 'fresh') return norm;
    } catch {
      // No result (a run still training, a file on its own): the checkpoint decides, as below.
    }
  }
  return fcNorm && hasMaeLayout((await readCheckpoint(weights)).stateDict) ? 'from-norm' : 'checkpoint';
}

/**
 * timm's `VisionTransformer(**args)` for a backbone config: the model a folded export loads into.
 * timm's LayerNorm eps is 1e-6, so another eps has no such arguments.
 */
export function timmArgs(config: VitConfig): Record<string, unknown> | null {
  if (config.layerNormEps !== 1e-6) return null;
  return {
    img_size: config.imgSize,
    patch_size: config.patchSize,
    in_chans: config.inChans,
    num_classes: config.numClasses,
    global_pool: config.globalPool,
    embed_dim: config.embedDim,
    depth: config.depth,
    num_heads: config.numHeads,
    mlp_ratio: config.mlpRatio,
    qkv_bias: config.qkvBias,
    class_token: config.classToken,
    fc_norm: config.fcNorm,
  };
}

/**
 * Writes a tuned model for PyTorch. A method with official parameter names (its definition's `officialNames`: VPT, GatedPT, SCT, VQT) is
 * written under them with the head, from the tuned file alone. Anything else is rebuilt with
 * training's `loadTunedModel` (the pretrained backbone the run recorded, or `--weights`), folded and written as one plain timm-named state dict with the new
 * head: LoRA, SSF and the policies (linear, bias, full); a method that does not fold is refused.
 * Everything is read and checked before the output is written.
 */
export async function exportModel(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('export', args, { run: { type: 'string' }, tuned: { type: 'string' }, weights: { type: 'string' }, out: { type: 'string' }, ...BACKEND_OPTION });
  if ((flags.run === undefined) === (flags.tuned === undefined)) throw new UsageError('export: give one of --run <dir> or --tuned <file>');
  const tunedPath = flags.tuned ?? join(flags.run!, 'tuned.safetensors');
  const out = requireFlag('export', 'out', flags.out);
  if (flags.run !== undefined && existsSync(join(flags.run, 'stage1', 'tuned.safetensors'))) {
    // Its tuned.safetensors holds the second stage only; the first stage's methods stay in stage1/. Each file is one
    // method's tensors (one official code's names, or one folded backbone), so the stages go out one by one.
    throw new UsageError(
      `export: ${flags.run} is a two-stage run, and a file holds one stage: export --tuned ${join(flags.run, 'stage1', 'tuned.safetensors')} (the first) ` +
        `and --tuned ${join(flags.run, 'tuned.safetensors')} (the second, tuned over the first, so a model needs both)`,
    );
  }
  if (!existsSync(tunedPath)) throw new FormatError(tunedPath, 'no such file: a run folder holds tuned.safetensors once `train` has finished');
  const tuned = await readTunedWeights(tunedPath);
  const { manifest } = tuned;
  const mapped = manifest.methods.length === 1 ? officialNameMappings().find((names) => names.method === manifest.methods[0]!.name) : undefined;
  if (mapped !== undefined) {
    const stateDict = toOfficialNames(mapped, manifest.methods[0]!.config, tuned.tensors, tunedPath);
    await writeFileAtomic(out, serializeSafetensors(stateDict, { format: 'pt', method: mapped.method, names: mapped.source }));
    io.stderr(`export: ${mapped.method} written under the official code's parameter names (${mapped.source.split(':')[0]}): ${[...stateDict.keys()].join(', ')}`);
    return;
  }

  // The backbone the run recorded (backboneInit), or --weights in its place; a file saved before runs recorded it needs --weights.
  const saved = manifest.backboneInit;
  if (saved === undefined && flags.weights === undefined) {
    throw new UsageError(`export: give --weights <pretrained checkpoint>: ${tunedPath} does not record the backbone it was tuned on (saved before tuned weights kept backboneInit)`);
  }
  const fcNorm = saved === undefined ? await legacyFcNorm(flags.run, manifest.backbone.fcNorm, flags.weights!) : undefined;
  await activateBackend(backendFlag(flags.backend), io);
  const source = {
    ...(flags.run === undefined ? { tuned: tunedPath } : { run: flags.run }),
    ...(flags.weights === undefined ? {} : { weights: flags.weights }),
    ...(fcNorm === undefined ? {} : { fcNorm }),
  };
  const { model, methods } = await loadTunedModel(source, { definitions: methodDefinitions() });
  try {
    const stateDict = foldedStateDict(model);
    const note = { backbone: model.config, timm: timmArgs(model.config), folded: manifest.methods.map((method) => method.name) };
    await writeFileAtomic(out, serializeSafetensors(stateDict, { format: 'pt', 'visual-peft': JSON.stringify(note) }));
    io.stderr(`export: ${manifest.methods.length === 0 ? 'the tuned backbone' : `${note.folded.join(' and ')} folded into the backbone`}, ${stateDict.size} timm-named tensors, ${manifest.numClasses} classes`);
  } finally {
    disposeMethods(model, methods);
    model.dispose();
  }
}

/**
 * `import --channels <file.json>`: an official SCT checkpoint's channel indices, which its code
 * recomputes and never saves: one JSON list per block with a module, in block order (as a `train`
 * or `run` record's last `salient-channels` diagnostic lists them under `selected`).
 */
async function withChannels(method: string, official: StateDict, inPath: string, path: string): Promise<StateDict> {
  if (method !== 'sct') throw new UsageError(`import: --channels applies to sct (its official checkpoints hold no channel indices), not ${method}`);
  let channels: unknown;
  try {
    channels = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FormatError(path, code === 'ENOENT' ? 'no such file' : `is not a JSON list of channel lists (${(error as Error).message})`);
  }
  try {
    return withOfficialChannelIndices(official, channels as number[][], inPath);
  } catch (error) {
    if (error instanceof ConfigError) throw new FormatError(path, error.message);
    throw error;
  }
}

/**
 * Reads a method's tensors under the official code's names (an `export` of it, or the method's
 * parameters of an official checkpoint converted to safetensors, whose other keys are ignored) into
 * a tuned-weights file (with its manifest) for `--backbone`. The method's sizes come from the
 * tensors; `--set` gives the rest of its options. The tensors are loaded into the method before
 * anything is written, so a file that does not fit is refused with its names and shapes.
 */
export async function importModel(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('import', args, {
    method: { type: 'string' },
    backbone: { type: 'string' },
    in: { type: 'string' },
    out: { type: 'string' },
    classes: { type: 'string' },
    set: { type: 'string', multiple: true },
    channels: { type: 'string' },
    ...BACKEND_OPTION,
  });
  const method = requireFlag('import', 'method', flags.method);
  const names = officialNames(method);
  const inPath = requireFlag('import', 'in', flags.in);
  const out = requireFlag('import', 'out', flags.out);
  const backbone = requireFlag('import', 'backbone', flags.backbone);
  const { stateDict: read } = await readCheckpoint(inPath);
  const official = flags.channels === undefined ? read : await withChannels(method, read, inPath, flags.channels);
  const { tensors, ignored } = fromOfficialNames(names, official);
  if (tensors.size === 0) {
    throw new FormatError(inPath, `holds none of ${method}'s official parameters (${names.tensors.map((tensor) => tensor.official).join(', ')})`);
  }
  const head = [...tensors].find(([key]) => key.endsWith('head.weight'))?.[1];
  const numClasses = integerFlag('classes', flags.classes, 1) ?? head?.shape[0];
  if (numClasses === undefined) throw new UsageError(`import: ${inPath} has no head; give --classes N`);
  const config = await resolveBackbone(backbone, { numClasses });
  const sizes = Object.fromEntries(Object.entries(names.sizes((name) => official.get(name), config.depth)).filter(([, value]) => value !== undefined));
  const entry = findMethod(method);
  await activateBackend(backendFlag(flags.backend), io);
  const model = new VisionTransformer(config, { weights: 'zeros' });
  let methods: TuningMethod[] = [];
  try {
    applyTrainablePolicy(model, entry.policy);
    // Sizes may be lists (SCT's k per block), which the definitions take although --set cannot spell them.
    methods = buildMethod(entry, model, { ...(sizes as Record<string, OptionValue>), ...parseSetOptions(flags.set ?? []) });
    try {
      restoreTunedTensors(model, methods, tensors as ReadonlyMap<string, HostTensor>, inPath);
    } catch (error) {
      if (!(error instanceof CheckpointMismatchError)) throw error;
      // The method checks its own names (the backbone's tensors fail otherwise); the user's file has the official ones.
      const official = (key: string) => officialName(names, `${method}/${key}`);
      throw new CheckpointMismatchError(
        `${inPath} (${method}, official names)`,
        error.missing.map(official),
        error.unexpected.map(official),
        error.mismatched.map((mismatch) => ({ ...mismatch, key: official(mismatch.key) })),
      );
    }
    await saveTunedWeights(out, model, methods);
  } finally {
    disposeMethods(model, methods);
    model.dispose();
  }
  io.stderr(`import: ${method} from ${inPath} (${tensors.size} tensors${ignored.length > 0 ? `; ${ignored.length} other keys left alone` : ''}) -> ${out}`);
}

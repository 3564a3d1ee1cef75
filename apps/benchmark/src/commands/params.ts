import { setrPupParameterCounts } from '@visual-peft/segmentation-heads';
import { countDeclaredParameters } from '@visual-peft/vit-core';
import { integerFlag, parseCommandArgs, requireFlag } from '../args';
import { resolveBackbone } from '../backbone';
import { UsageError } from '../errors';
import type { Io } from '../io';
import { declareMethod, findMethod } from '../methods';
import { parseSetOptions } from '../set-options';

export const PARAMS_USAGE = 'params --backbone <preset | config.json> [--classes N] [--method <name> [--set key=value ...]] [--head setr-pup]';

/** Segmentation heads `--head` adds on top of the backbone. */
const SEGMENTATION_HEADS = ['setr-pup'] as const;

/**
 * Prints one JSON object with the exact parameter counts of a backbone with a method attached:
 * total, trainable (backbone weights the method trains, head, method variables) and extra (what the
 * method adds, head excluded). Without --method nothing trains. `--head setr-pup` segments into
 * --classes classes instead of classifying: the backbone keeps no classifier and the SETR-PUP decode
 * and auxiliary heads (all trainable) join total and trainable, itemised as `segmentationHead`.
 * Everything is counted from shapes (the backbone's config, the method definition's
 * `variableShapes`, the heads' config): no tensor is built, so no backend is needed.
 */
export async function params(args: readonly string[], io: Io): Promise<void> {
  const flags = parseCommandArgs('params', args, {
    backbone: { type: 'string' },
    classes: { type: 'string' },
    method: { type: 'string' },
    set: { type: 'string', multiple: true },
    head: { type: 'string' },
  });
  const backbone = requireFlag('params', 'backbone', flags.backbone);
  const numClasses = integerFlag('classes', flags.classes, 0);
  const entry = flags.method === undefined ? null : findMethod(flags.method);
  const options = parseSetOptions(flags.set ?? []);
  if (entry === null && Object.keys(options).length > 0) throw new UsageError('params: --set needs --method');
  const head = flags.head ?? null;
  if (head !== null && !(SEGMENTATION_HEADS as readonly string[]).includes(head)) {
    throw new UsageError(`--head must be one of ${SEGMENTATION_HEADS.join(', ')}, got ${JSON.stringify(head)}`);
  }
  if (head !== null && (numClasses === undefined || numClasses < 1)) throw new UsageError(`params: --head ${head} needs --classes N >= 1 (150 for ADE20K)`);
  const classifierClasses = head === null ? numClasses : 0;
  const config = await resolveBackbone(backbone, classifierClasses === undefined ? {} : { numClasses: classifierClasses });
  const counts = countDeclaredParameters(config, entry?.policy ?? 'frozen', entry === null ? [] : declareMethod(entry, config, options));
  const heads = head === null ? null : setrPupParameterCounts(config, { numClasses: numClasses! });
  const total = counts.total + (heads?.total ?? 0);
  const trainable = counts.trainable + (heads?.total ?? 0);
  const segmentationHead = heads === null ? {} : { segmentationHead: { head, numClasses, ...heads } };
  io.stdout(JSON.stringify({ backbone, method: entry?.name ?? null, options, numClasses: config.numClasses, ...counts, total, trainable, ...segmentationHead }));
}

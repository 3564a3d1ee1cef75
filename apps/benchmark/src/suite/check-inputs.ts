import type { ClassificationSplit, SegmentationSplit } from '@visual-peft/datasets';
import { checkImages } from '@visual-peft/datasets';
import type { StateDict, VitConfig } from '@visual-peft/vit-core';
import { VisionTransformer, VisualPeftError, loadStateDict, readCheckpoint } from '@visual-peft/vit-core';
import { checkpointSha256 } from './input-identity';

/** A data root whose images do not all decode: found before the first step. */
export class DataCheckError extends VisualPeftError {}

/** How a job loads a checkpoint: the pooled norm's source and the pooling its classifier overrides. */
export interface LoadSetup {
  readonly fcNorm: 'checkpoint' | 'from-norm' | 'fresh';
  readonly globalPool?: VitConfig['globalPool'];
  readonly fcNormLayer?: boolean;
}

/**
 * Checks a checkpoint against its backbone before anything trains (its values were found finite when
 * `readCheckpoint` read it): every key and shape as each job will load it (head discarded, each distinct pooled-norm setup once), into a model
 * of zeros that is freed at once.
 */
export function checkBackboneWeights(config: VitConfig, stateDict: StateDict, source: string, setups: readonly LoadSetup[]): void {
  const distinct = new Map(setups.map((setup) => [JSON.stringify(setup), setup]));
  for (const setup of distinct.values()) {
    const model = new VisionTransformer(
      { ...config, numClasses: 2, ...(setup.globalPool === undefined ? {} : { globalPool: setup.globalPool }), ...(setup.fcNormLayer === undefined ? {} : { fcNorm: setup.fcNormLayer }) },
      { weights: 'zeros' },
    );
    try {
      loadStateDict(model, stateDict, { source, head: 'discard', fcNorm: setup.fcNorm });
    } finally {
      model.dispose();
    }
  }
}

/**
 * Reads a backbone checkpoint, checks it as `checkBackboneWeights` does and returns its SHA-256. Its
 * tensors are unreachable once the check returns (before the hash is read), so the checks of a suite's
 * backbones, one after the other, hold one checkpoint at a time, however many ViT-L a suite lists.
 */
export async function checkBackboneCheckpoint(config: VitConfig, path: string, setups: readonly LoadSetup[]): Promise<string> {
  checkBackboneWeights(config, (await readCheckpoint(path)).stateDict, path, setups);
  return checkpointSha256(path);
}

/**
 * Reads the header and the end of every image the splits list (the check `data --decode header` runs:
 * a JPEG's EOI, a PNG's IEND chunk, AVIF and TIFF data within the file, without reading the image data) and refuses the
 * data root on the first problems, so that a corrupt or cut-short image stops a command before its
 * first step rather than when a batch first draws it.
 */
export async function checkSplitImages(root: string, splits: readonly (ClassificationSplit | SegmentationSplit)[], dataCommand: string): Promise<void> {
  const problems = await checkImages(splits, { decode: 'header' });
  if (problems.length === 0) return;
  const shown = problems.slice(0, 3).map((problem) => problem.message);
  const more = problems.length > shown.length ? `; ${problems.length - shown.length} more` : '';
  throw new DataCheckError(`${root}: ${problems.length} image${problems.length === 1 ? '' : 's'} cannot be read: ${shown.join('; ')}${more} (list them all with: ${dataCommand} --decode header)`);
}

/**
 * The largest batch a split can train with: batches drop a last partial batch, so a split smaller than
 * the batch would train no step. Returns the rule broken, or null.
 */
export function batchSizeRule(batchSize: number, split: { readonly split: string; readonly examples: readonly unknown[] }): string | null {
  return batchSize <= split.examples.length ? null : `must be at most the ${split.split} split's ${split.examples.length} images (a last partial batch is dropped, so a larger batch trains no step)`;
}

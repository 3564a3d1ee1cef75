import * as tf from '@tensorflow/tfjs-core';
import type { ProgressEvent, TrainResult, TunedWeightsManifest } from '@visual-peft/training';
import { Trainer, decodeTunedWeights, encodeTunedWeights } from '@visual-peft/training';
import type { BatchSource, ImageBatch, MethodDefinition, StateDict, TuningMethod, VitConfig, VitConfigInput } from '@visual-peft/vit-core';
import {
  ConfigError,
  SeededRandom,
  VisionTransformer,
  applyTrainablePolicy,
  deriveSeed,
  integer,
  loadStateDict,
  parseSafetensors,
  positiveNumber,
  resolveVitConfig,
} from '@visual-peft/vit-core';
import { VqtMethod } from '@visual-peft/query-tuning';
import type { SizedImage } from './images';
import { toBatch } from './images';
import { DEFINITIONS, recipeFor } from './methods';

/** A pretrained backbone in memory: its config and its timm-named weights. */
export interface Backbone {
  readonly name: string;
  readonly config: VitConfig;
  readonly stateDict: StateDict;
}

/** A backbone from its config JSON and safetensors bytes (a demo backbone's pair, or a user's). */
export function readBackbone(name: string, configText: string, weights: Uint8Array): Backbone {
  let parsed: unknown;
  try {
    parsed = JSON.parse(configText);
  } catch (error) {
    throw new ConfigError(`${name} config`, configText.slice(0, 40), `must be JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${name} config`, parsed, 'must be a JSON object of ViT config fields');
  return { name, config: resolveVitConfig(parsed as VitConfigInput), stateDict: parseSafetensors(weights, name).tensors };
}

/** Labelled images at the backbone's input size. */
export interface LabelledImages {
  readonly images: readonly SizedImage[];
  readonly labels: readonly number[];
}

export interface TrainRequest {
  readonly backbone: Backbone;
  readonly method: string;
  readonly classNames: readonly string[];
  readonly train: LabelledImages;
  /** Scored after every epoch (top-1 accuracy); empty: no accuracy. */
  readonly validation: LabelledImages;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate?: number;
  readonly seed?: number;
  readonly onProgress?: (event: ProgressEvent) => unknown;
  readonly signal?: AbortSignal;
}

/** Batches of a labelled set: shuffled per epoch from the seed and the last short batch dropped (training), or in order (evaluation). */
function batchSource(set: LabelledImages, batchSize: number, size: readonly [number, number], shuffleSeed: number | null): BatchSource {
  return async function* (epoch: number) {
    const order = shuffleSeed === null ? Array.from(set.images.keys()) : [...new SeededRandom(deriveSeed(shuffleSeed, epoch)).permutation(set.images.length)];
    const end = shuffleSeed === null ? order.length : order.length - (order.length % batchSize);
    for (let start = 0; start < end; start += batchSize) {
      const picked = order.slice(start, Math.min(start + batchSize, end));
      yield toBatch(
        picked.map((index) => set.images[index]!),
        picked.map((index) => set.labels[index]!),
        size,
      );
    }
  };
}

/**
 * The model before training, as the benchmark's demo builds it: pretrained weights, the method's
 * trainable policy, the method (its recipe's options) attached, and every classifier at zero, so
 * that a few steps are not swamped by a random head's draw. That is the backbone's head and VQT's
 * own head over its wider features: from its kaiming-normal draw (std sqrt(2 / classes) over 5
 * L2-normalised feature groups on the demo backbones) the held-out loss starts at 3.06 against
 * ln 5 = 1.61 from zeros, and the recipe's Adam steps of about 0.02 per weight leave that draw in
 * place for dozens of steps (Fashion-MNIST demo, batch 8: 10 % held-out top-1 after 5 steps, 26 %
 * after 20, 50 % after 50; from zeros 40 %, 49 %, 60 %, as the app's `bench --method vqt --steps N`
 * reports). A larger rate is no cure: Adam 0.1 and 0.5 from the draw reached 22 % and 27 % after 5 steps.
 */
export function buildModel(backbone: Backbone, definition: MethodDefinition, numClasses: number, seed: number): { model: VisionTransformer; method: TuningMethod } {
  const model = new VisionTransformer({ ...backbone.config, numClasses }, { seed, weights: 'zeros' });
  try {
    loadStateDict(model, backbone.stateDict, { source: backbone.name, head: 'discard' });
    model.resetHead(numClasses, { init: 'zeros' });
    applyTrainablePolicy(model, definition.policy);
    const method = definition.create(model, { ...recipeFor(definition.name).options, seed });
    if (method instanceof VqtMethod) tf.tidy(() => Object.values(method.headVariables()).forEach((variable) => variable.assign(tf.zerosLike(variable))));
    model.attach(method);
    return { model, method };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** A backbone with one method attached, trained in this tab. */
export class TunedModel {
  private constructor(
    readonly model: VisionTransformer,
    readonly methods: readonly TuningMethod[],
    readonly classNames: readonly string[],
  ) {}

  /**
   * Builds the model (buildModel), prepares the method on the training images, then trains it with
   * training's Trainer.
   */
  static async train(request: TrainRequest): Promise<{ tuned: TunedModel; result: TrainResult }> {
    const definition = DEFINITIONS.find((entry) => entry.name === request.method);
    if (definition === undefined) throw new ConfigError('method', request.method, `must be one of ${DEFINITIONS.map((entry) => entry.name).join(', ')}`);
    const epochs = integer('epochs', request.epochs, 1);
    const batchSize = integer('batchSize', request.batchSize, 1);
    const seed = integer('seed', request.seed ?? 0, 0);
    const stepsPerEpoch = Math.floor(request.train.images.length / batchSize);
    if (stepsPerEpoch < 1) throw new ConfigError('train images', request.train.images.length, `must be at least one batch (${batchSize})`);
    const recipe = recipeFor(definition.name);
    const learningRate = positiveNumber('learningRate', request.learningRate ?? recipe.learningRate);
    const { config } = request.backbone;
    const size = [config.imgSize[0], config.imgSize[1]] as const;
    const { model, method } = buildModel(request.backbone, definition, request.classNames.length, seed);
    const methods: TuningMethod[] = [method];
    let trainer: Trainer | undefined;
    try {
      // Data-dependent initialisation (SCT's channel scores, SPT's prompts) reads the unshuffled training images.
      await method.prepare?.(batchSource(request.train, batchSize, size, null));
      trainer = new Trainer(model, methods, {
        epochs,
        stepsPerEpoch,
        optimizer: { kind: recipe.optimizer, learningRate, weightDecay: 0 },
        schedule: { kind: 'cosine', unit: 'step' },
        seed,
      });
      const validation = request.validation.images.length === 0 ? {} : { validation: batchSource(request.validation, batchSize, size, null) };
      const result = await trainer.fit({
        train: batchSource(request.train, batchSize, size, seed),
        ...validation,
        ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      return { tuned: new TunedModel(model, methods, request.classNames), result };
    } catch (error) {
      methods.forEach((method) => method.dispose());
      model.dispose();
      throw error;
    } finally {
      trainer?.dispose();
    }
  }

  /** Logits and class probabilities of each image (inference mode); read back asynchronously, as WebGPU requires. */
  async predict(images: readonly SizedImage[]): Promise<{ logits: number[][]; probabilities: number[][] }> {
    const size = [this.model.config.imgSize[0], this.model.config.imgSize[1]] as const;
    const batch: ImageBatch = toBatch(images, images.map(() => 0), size);
    const [logits, probabilities] = tf.tidy(() => {
      const output = this.model.forward(tf.tensor4d(batch.images, [...batch.shape]));
      return [output, tf.softmax(output)];
    });
    try {
      return { logits: (await logits.array()) as number[][], probabilities: (await probabilities.array()) as number[][] };
    } finally {
      tf.dispose([logits, probabilities]);
    }
  }

  /**
   * The tuned weights as training's `saveTunedWeights` writes them: the safetensors bytes (the
   * manifest in their metadata) and the manifest it writes beside them.
   */
  tunedWeights(): { bytes: Uint8Array; manifest: TunedWeightsManifest } {
    const bytes = encodeTunedWeights(this.model, this.methods);
    return { bytes, manifest: decodeTunedWeights(bytes, 'tuned weights').manifest };
  }

  dispose(): void {
    this.methods.forEach((method) => method.dispose());
    this.model.dispose();
  }
}

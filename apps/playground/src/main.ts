import * as tf from '@tensorflow/tfjs-core';
import type { ProgressEvent } from '@visual-peft/training';
import type { DemoBackboneName } from './assets';
import { DEMO_BACKBONES, FASHION_MNIST_URLS, fetchBytes } from './assets';
import type { BackendChoice } from './backend';
import { activateFastestBackend } from './backend';
import type { GrayImage } from './fashion-mnist';
import { FASHION_MNIST_CLASSES, UNSEEN_CLASSES, gunzip, parseIdx, unseenImages } from './fashion-mnist';
import { droppedFiles, groupByFolder, pickedFiles } from './folder';
import type { SizedImage } from './images';
import { resizePicture } from './images';
import { drawLossCurve } from './loss-curve';
import { DEFINITIONS, recipeFor } from './methods';
import type { Backbone, LabelledImages } from './session';
import { TunedModel, readBackbone } from './session';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const select = (id: string) => $<HTMLSelectElement>(id);
const input = (id: string) => $<HTMLInputElement>(id);
const button = (id: string) => $<HTMLButtonElement>(id);

/** Held-out Fashion-MNIST test images per class for the accuracy after each epoch. */
const VALIDATION_PER_CLASS = 20;
/** Further test images per class that "Predict a held-out image" walks through. */
const PREDICT_PER_CLASS = 4;

interface Task {
  readonly classNames: readonly string[];
  readonly train: LabelledImages;
  readonly validation: LabelledImages;
  /** Images never trained on or scored, for prediction, with where they came from. */
  readonly held: readonly { readonly image: SizedImage; readonly label: number; readonly source: string }[];
}

/** What the page has done, as JSON in #result (read by the browser test and anyone scripting the page). */
const result: Record<string, unknown> = { state: 'idle' };
function report(fields: Record<string, unknown>): void {
  Object.assign(result, fields);
  $('result').textContent = JSON.stringify(result);
}

function fail(error: unknown): void {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  $('status').textContent = `Error: ${message}`;
  report({ state: 'error', error: message });
  console.error(error);
}

let backend: BackendChoice | undefined;
let tuned: TunedModel | undefined;
let task: Task | undefined;
let nextHeld = 0;
let folderEntries: { path: string; file: File }[] = [];

async function loadBackbone(): Promise<Backbone> {
  const choice = select('backbone').value;
  if (choice === 'custom') {
    const config = input('config-file').files?.[0];
    const weights = input('weights-file').files?.[0];
    if (config === undefined || weights === undefined) throw new Error('pick both a config.json and a model.safetensors');
    return readBackbone(weights.name, await config.text(), new Uint8Array(await weights.arrayBuffer()));
  }
  const urls = DEMO_BACKBONES[choice as DemoBackboneName];
  const [config, weights] = await Promise.all([fetch(urls.config).then((response) => response.text()), fetchBytes(urls.weights)]);
  return readBackbone(`demo ${choice}`, config, weights);
}

async function idxPair(urls: { images: string; labels: string }, perClass: number): Promise<GrayImage[]> {
  const [images, labels] = await Promise.all([fetchBytes(urls.images).then(gunzip), fetchBytes(urls.labels).then(gunzip)]);
  return unseenImages(parseIdx(images, urls.images), parseIdx(labels, urls.labels), perClass, urls.images);
}

const gray = (image: GrayImage): SizedImage => ({ data: image.pixels, width: image.width, height: image.height, channels: 1 });

async function loadTask(size: readonly [number, number]): Promise<Task> {
  const perClass = Number(input('per-class').value);
  if (select('data').value === 'fashion-mnist') {
    const train = await idxPair(FASHION_MNIST_URLS.train, perClass);
    const test = await idxPair(FASHION_MNIST_URLS.test, VALIDATION_PER_CLASS + PREDICT_PER_CLASS);
    const seen = new Map<number, number>();
    const validation: GrayImage[] = [];
    const held: GrayImage[] = [];
    for (const image of test) {
      const count = (seen.get(image.label) ?? 0) + 1;
      seen.set(image.label, count);
      (count <= VALIDATION_PER_CLASS ? validation : held).push(image);
    }
    return {
      classNames: UNSEEN_CLASSES.map((label) => FASHION_MNIST_CLASSES[label]),
      train: { images: train.map(gray), labels: train.map((image) => image.label) },
      validation: { images: validation.map(gray), labels: validation.map((image) => image.label) },
      held: held.map((image) => ({ image: gray(image), label: image.label, source: `t10k-images-idx3-ubyte record ${image.record}` })),
    };
  }
  const { classNames, files } = groupByFolder(folderEntries);
  const heldOut = Number(input('held-out').value);
  const split: Record<'train' | 'validation', { images: SizedImage[]; labels: number[] }> = { train: { images: [], labels: [] }, validation: { images: [], labels: [] } };
  const held: Task['held'][number][] = [];
  const counts = new Map<number, number>();
  for (const { file, label } of files) {
    const count = (counts.get(label) ?? 0) + 1;
    counts.set(label, count);
    if (count > perClass + heldOut) continue;
    const image = await resizePicture(file, size);
    if (count > perClass) {
      split.validation.images.push(image);
      split.validation.labels.push(label);
      held.push({ image, label, source: file.name });
    } else {
      split.train.images.push(image);
      split.train.labels.push(label);
    }
  }
  return { classNames, ...split, held };
}

function drawImage(image: SizedImage): void {
  const canvas = $<HTMLCanvasElement>('predict-image');
  const scratch = new OffscreenCanvas(image.width, image.height);
  const pixels = new ImageData(image.width, image.height);
  for (let pixel = 0; pixel < image.width * image.height; pixel++) {
    for (let channel = 0; channel < 3; channel++) pixels.data[pixel * 4 + channel] = image.data[pixel * image.channels + (image.channels === 1 ? 0 : channel)]!;
    pixels.data[pixel * 4 + 3] = 255;
  }
  scratch.getContext('2d')!.putImageData(pixels, 0, 0);
  const context = canvas.getContext('2d')!;
  context.imageSmoothingEnabled = false;
  context.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

async function predict(image: SizedImage, label: number | null, source: string): Promise<void> {
  if (tuned === undefined) return;
  drawImage(image);
  const { logits, probabilities } = await tuned.predict([image]);
  const row = probabilities[0]!;
  const predicted = row.indexOf(Math.max(...row));
  const ranked = row.map((probability, index) => ({ probability, index })).sort((a, b) => b.probability - a.probability);
  $('prediction').textContent = [
    `${source}${label === null ? '' : ` (true class: ${tuned.classNames[label]})`}`,
    `predicted: ${tuned.classNames[predicted]}`,
    ...ranked.map(({ probability, index }) => `  ${(100 * probability).toFixed(1).padStart(5)} %  ${tuned!.classNames[index]}`),
  ].join('\n');
  report({ prediction: { source, label, predicted, logits: logits[0], probabilities: row } });
}

function download(bytes: Uint8Array | string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const link = Object.assign(document.createElement('a'), { href: url, download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function train(): Promise<void> {
  const controller = new AbortController();
  button('train').disabled = true;
  button('stop').disabled = false;
  button('stop').onclick = () => controller.abort();
  for (const id of ['predict-sample', 'download', 'download-manifest']) button(id).disabled = true;
  input('predict-file').disabled = true;
  tuned?.dispose();
  tuned = undefined;
  const losses: number[] = [];
  const accuracies: number[] = [];
  try {
    $('status').textContent = 'Loading the backbone and the images…';
    report({ state: 'loading', steps: 0, losses, accuracies, prediction: null, error: null });
    const backbone = await loadBackbone();
    task = await loadTask([backbone.config.imgSize[0], backbone.config.imgSize[1]]);
    nextHeld = 0;
    $('data-summary').textContent = `${task.train.images.length} training images, ${task.validation.images.length} held out; classes: ${task.classNames.join(', ')}`;
    const method = select('method').value;
    const learningRate = input('lr').value === '' ? undefined : Number(input('lr').value);
    const started = performance.now();
    let lastStep = started;
    const onProgress = (event: ProgressEvent) => {
      if (event.type === 'step') {
        lastStep = performance.now();
        losses.push(event.loss);
        drawLossCurve($<HTMLCanvasElement>('loss'), losses, event.totalSteps);
        $('status').textContent = `epoch ${event.epoch + 1}/${event.epochs}, step ${event.globalStep + 1}/${event.totalSteps}: loss ${event.loss.toFixed(4)}, ${event.imagesPerSecond.toFixed(1)} images/s`;
        report({ state: 'training', steps: losses.length, totalSteps: event.totalSteps });
      } else if (event.type === 'epoch' && event.evaluation !== null) {
        accuracies.push(event.evaluation.top1);
        $('accuracy').textContent = `held-out accuracy after each epoch: ${accuracies.map((value) => `${(100 * value).toFixed(1)} %`).join(', ')}`;
      }
      return undefined;
    };
    const trained = await TunedModel.train({
      backbone,
      method,
      classNames: task.classNames,
      train: task.train,
      validation: task.validation,
      epochs: Number(input('epochs').value),
      batchSize: Number(input('batch').value),
      ...(learningRate === undefined ? {} : { learningRate }),
      onProgress,
      signal: controller.signal,
    });
    tuned = trained.tuned;
    const seconds = (performance.now() - started) / 1000;
    $('status').textContent = `${trained.result.status === 'completed' ? 'Done' : 'Stopped'}: ${trained.result.steps} steps in ${seconds.toFixed(1)} s on ${backend?.name}.`;
    // stepSeconds leaves out the held-out scoring after each epoch: the time the steps took.
    const stepSeconds = (lastStep - started) / 1000;
    report({ state: 'trained', status: trained.result.status, steps: trained.result.steps, seconds, stepSeconds, finalLoss: losses[losses.length - 1] ?? null, method, backbone: backbone.name, numTensors: tf.memory().numTensors });
    for (const id of ['predict-sample', 'download', 'download-manifest']) button(id).disabled = task.held.length === 0 && id === 'predict-sample';
    input('predict-file').disabled = false;
  } catch (error) {
    fail(error);
  } finally {
    button('train').disabled = false;
    button('stop').disabled = true;
  }
}

function wire(): void {
  for (const definition of DEFINITIONS) select('method').add(new Option(definition.name, definition.name));
  select('method').value = 'vpt-shallow';
  const describe = () => {
    const definition = DEFINITIONS.find((entry) => entry.name === select('method').value)!;
    const recipe = recipeFor(definition.name);
    $('method-description').textContent = `${definition.description}. Trains with ${recipe.optimizer}, learning rate ${recipe.learningRate}, options ${JSON.stringify(recipe.options)}.`;
  };
  select('method').onchange = describe;
  describe();
  select('backbone').onchange = () => ($('custom-backbone').hidden = select('backbone').value !== 'custom');
  select('data').onchange = () => ($('folder-input').hidden = select('data').value !== 'folder');
  const drop = $('drop');
  drop.ondragover = (event) => {
    event.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    droppedFiles(event.dataTransfer!).then((files) => {
      folderEntries = files;
      const { classNames, files: pictures } = groupByFolder(files);
      $('data-summary').textContent = `${pictures.length} pictures in ${classNames.length} classes: ${classNames.join(', ')}`;
    }, fail);
  };
  input('folder').onchange = () => {
    folderEntries = pickedFiles(input('folder').files!);
    try {
      const { classNames, files } = groupByFolder(folderEntries);
      $('data-summary').textContent = `${files.length} pictures in ${classNames.length} classes: ${classNames.join(', ')}`;
    } catch (error) {
      fail(error);
    }
  };
  button('train').onclick = () => void train();
  button('predict-sample').onclick = () => {
    if (task === undefined || task.held.length === 0) return;
    const held = task.held[nextHeld++ % task.held.length]!;
    predict(held.image, held.label, held.source).catch(fail);
  };
  input('predict-file').onchange = () => {
    const file = input('predict-file').files?.[0];
    if (file === undefined || tuned === undefined) return;
    const size = [tuned.model.config.imgSize[0], tuned.model.config.imgSize[1]] as const;
    resizePicture(file, size).then((image) => predict(image, null, file.name)).catch(fail);
  };
  button('download').onclick = () => {
    if (tuned !== undefined) download(tuned.tunedWeights().bytes, 'tuned.safetensors', 'application/octet-stream');
  };
  button('download-manifest').onclick = () => {
    if (tuned !== undefined) download(`${JSON.stringify(tuned.tunedWeights().manifest, null, 2)}\n`, 'tuned.json', 'application/json');
  };
}

wire();
const only = new URLSearchParams(location.search).get('backend') ?? undefined;
activateFastestBackend(only).then(
  (choice) => {
    backend = choice;
    $('backend').textContent = `${choice.name} (${choice.device})`;
    $('backend').title = choice.skipped.join('\n');
    report({ backend: choice.name, device: choice.device, skipped: choice.skipped, state: 'ready' });
  },
  fail,
);

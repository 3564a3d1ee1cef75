import * as tf from '@tensorflow/tfjs-core';
import { FASHION_MNIST_CLASSES, createBatchSource, loadFashionMnist, pipelinePreset } from '@visual-peft/datasets';
import { loadTunedWeights } from '@visual-peft/training';
import { VisionTransformer, loadStateDict, readCheckpoint, resolveVitConfig } from '@visual-peft/vit-core';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchRow } from '../scripts/bench';
import type { ServedSite } from '../scripts/page-driver';
import { APP_ROOT, CHROMIUM, launchChromium, pageResult, serveSite, trainOnPage, waitForState } from '../scripts/page-driver';
import { DEFINITIONS } from '../src/methods';

/*
 * The playground in a real browser: Debian's chromium, headless, driven by playwright-core (its own
 * browser download is never used). Builds the app, serves the build, trains a few steps on the
 * committed Fashion-MNIST subset, predicts a held-out image, downloads the tuned weights and checks
 * that Node's loader gives the logits the page printed.
 */

const OUT = join(APP_ROOT, 'test-output');
const DEMO = join(APP_ROOT, '../benchmark/demo');
const present = existsSync(CHROMIUM);
if (!present && process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
  throw new Error(`CI is set and no chromium at ${CHROMIUM}: .ci/run installs Debian's chromium (apt-get install chromium); set CHROMIUM_PATH for another`);
}
if (!present) {
  console.warn(`\n!!! SKIPPING the playground's browser test: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH). With CI set this fails. !!!\n`);
}

/** Node's logits for a Fashion-MNIST test record: the demo backbone, the downloaded tuned weights through training's loader, the demo's pipeline. */
async function nodeLogits(weights: string, record: number, expectedLabel: number): Promise<number[]> {
  const config = resolveVitConfig({ ...JSON.parse(await readFile(join(DEMO, 'backbones/supervised/config.json'), 'utf8')), numClasses: 5 });
  const model = new VisionTransformer(config, { weights: 'zeros' });
  try {
    loadStateDict(model, (await readCheckpoint(join(DEMO, 'backbones/supervised/model.safetensors'))).stateDict, { head: 'discard' });
    const methods = await loadTunedWeights(weights, model, DEFINITIONS);
    expect(methods.map((method) => method.name)).toEqual(['vpt-shallow']);
    const test = await loadFashionMnist(join(DEMO, 'data'), 'test');
    const example = test.examples.find((entry) => entry.origin.record === record)!;
    expect(FASHION_MNIST_CLASSES[example.label]).toBe(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'][expectedLabel]);
    const source = createBatchSource({ ...test, examples: [example] }, { batchSize: 1, pipeline: pipelinePreset('vtab', { imageSize: config.imgSize[0] }) });
    let logits: number[] = [];
    for await (const batch of source(0)) logits = tf.tidy(() => Array.from(model.forward(tf.tensor4d(batch.images, [...batch.shape])).dataSync()));
    methods.forEach((method) => method.dispose());
    return logits;
  } finally {
    model.dispose();
  }
}

/** Whether a screenshot holds a picture (many colours), decoded by the browser itself. */
async function colours(page: Page, screenshot: Buffer): Promise<number> {
  return page.evaluate(async (dataUrl) => {
    const bitmap = await createImageBitmap(await (await fetch(dataUrl)).blob());
    const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    const seen = new Set<number>();
    for (let index = 0; index < data.length; index += 4) seen.add((data[index]! << 16) | (data[index + 1]! << 8) | data[index + 2]!);
    return seen.size;
  }, `data:image/png;base64,${screenshot.toString('base64')}`);
}

/** A 24-bit BMP (bottom-up rows, each padded to 4 bytes) of a grey level per pixel. */
function bmp(width: number, height: number, grey: (x: number, y: number) => number): Uint8Array {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const bytes = new Uint8Array(54 + stride * height);
  const view = new DataView(bytes.buffer);
  bytes.set([0x42, 0x4d]);
  view.setUint32(2, bytes.length, true);
  view.setUint32(10, 54, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 24, true);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) bytes.fill(grey(x, height - 1 - y), 54 + y * stride + x * 3, 54 + y * stride + x * 3 + 3);
  }
  return bytes;
}

describe.skipIf(!present)('the playground in headless chromium', () => {
  let site: ServedSite | undefined;
  let browser: Browser;
  let url: string;

  beforeAll(async () => {
    await rm(OUT, { recursive: true, force: true });
    await mkdir(OUT, { recursive: true });
    site = await serveSite(join(OUT, 'site'));
    url = site.url;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  // The page's own choice (wasm here: SwiftShader's WebGL and WebGPU are passed over), then WebGL asked for by name.
  it.each([
    { label: 'fastest', query: '' },
    { label: 'webgl', query: '?backend=webgl' },
  ])('trains on $label, predicts, and hands over weights that Node loads to the same logits', async ({ label, query }) => {
    const out = join(OUT, label);
    await mkdir(out, { recursive: true });
    const page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1100, height: 1400 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${url}${query}`);
    const ready = await waitForState(page, ['ready', 'error'], 60_000);
    expect(ready.error ?? null).toBeNull();
    console.log(`playground backend (${label}): ${ready.backend} (${ready.device}); passed over: ${ready.skipped?.join('; ') || 'none'}`);
    if (label === 'webgl') expect(ready.backend).toBe('webgl');
    // The plain-JS fallback only where nothing else starts; chromium always has wasm.
    else expect(ready.backend).not.toBe('cpu');

    const trained = await trainOnPage(page, { method: 'vpt-shallow', perClass: 8, epochs: 1, batch: 8 }, 150_000);
    expect(trained.error ?? null).toBeNull();
    console.log(`${label}: ${trained.steps} steps in ${trained.seconds?.toFixed(1)} s, final loss ${trained.finalLoss}`);
    expect(trained).toMatchObject({ state: 'trained', status: 'completed', steps: 5 });
    // The benchmark's seconds: the steps without the held-out scoring that follows them.
    expect(trained.stepSeconds).toBeGreaterThan(0);
    expect(trained.stepSeconds).toBeLessThan(trained.seconds!);
    if (label === 'webgl') expect(benchRow('webgl', trained)).toMatchObject({ backend: 'webgl', device: ready.device, steps: 5, finalLoss: trained.finalLoss, error: null });
    expect(trained.losses).toHaveLength(5);
    expect(trained.losses!.every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(trained.finalLoss)).toBe(true);
    expect(trained.accuracies).toHaveLength(1);
    expect(trained.accuracies![0]).toBeGreaterThanOrEqual(0);

    await page.click('#predict-sample');
    await page.waitForFunction(() => JSON.parse(document.getElementById('result')!.textContent ?? '{}').prediction?.logits !== undefined, undefined, { timeout: 30_000 });
    const { prediction } = await pageResult(page);
    expect(prediction!.logits).toHaveLength(5);
    expect(prediction!.logits.every(Number.isFinite)).toBe(true);
    expect(await page.locator('#prediction').textContent()).toContain('predicted: ');

    const screenshot = await page.screenshot({ path: join(out, 'playground.png'), fullPage: true });
    expect(await colours(page, screenshot)).toBeGreaterThan(50);

    const weights = join(out, 'tuned.safetensors');
    for (const [id, path] of [['#download', weights], ['#download-manifest', join(out, 'tuned.json')]] as const) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
      await download.saveAs(path);
    }
    expect(errors).toEqual([]);
    await page.close();

    const logits = await nodeLogits(weights, Number(/record (\d+)/.exec(prediction!.source)![1]), prediction!.label!);
    console.log(`${label}: page logits ${prediction!.logits.map((value) => value.toFixed(5)).join(', ')}; node ${logits.map((value) => value.toFixed(5)).join(', ')}`);
    for (const [index, value] of logits.entries()) expect(Math.abs(value - prediction!.logits[index]!)).toBeLessThan(1e-3 + 1e-3 * Math.abs(value));
  });
  it('trains on a picked folder of pictures, one subfolder per class', async () => {
    // Two classes a ViT tells apart: horizontal and vertical stripes, 6 pictures each at another size than the backbone's.
    const folder = join(OUT, 'folder');
    for (const [name, horizontal] of [['horizontal', true], ['vertical', false]] as const) {
      await mkdir(join(folder, name), { recursive: true });
      for (let index = 0; index < 6; index++) {
        const stripe = (x: number, y: number) => (Math.floor((horizontal ? y : x) / (4 + index)) % 2 === 0 ? 230 : 25);
        await writeFile(join(folder, name, `${index}.bmp`), bmp(40, 40, stripe));
      }
    }
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    await waitForState(page, ['ready', 'error'], 60_000);
    await page.selectOption('#data', 'folder');
    await page.setInputFiles('#folder', folder);
    await expect.poll(() => page.locator('#data-summary').textContent()).toBe('12 pictures in 2 classes: horizontal, vertical');
    await page.fill('#held-out', '2');
    const trained = await trainOnPage(page, { method: 'lora', perClass: 4, epochs: 1, batch: 4, data: 'folder' }, 120_000);
    expect(trained.error ?? null).toBeNull();
    expect(trained).toMatchObject({ status: 'completed', steps: 2, method: 'lora' });
    expect(trained.accuracies).toHaveLength(1);
    await page.click('#predict-sample');
    await page.waitForFunction(() => JSON.parse(document.getElementById('result')!.textContent ?? '{}').prediction?.logits !== undefined, undefined, { timeout: 30_000 });
    const { prediction } = await pageResult(page);
    expect(prediction!.logits).toHaveLength(2);
    expect(prediction!.source).toMatch(/^[45]\.bmp$/);
    expect(errors).toEqual([]);
    await page.close();
  });
});

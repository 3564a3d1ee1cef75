import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { build, preview } from 'vite';
import type { BackendName } from '../src/backend-names';

/*
 * Driving the built playground in Debian's chromium (headless, through playwright-core; its own
 * browser download is never used): what the browser test and the backend benchmark share.
 */

/** The app's folder (where vite.config.ts lives). */
export const APP_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The chromium that drives the page: Debian's, or CHROMIUM_PATH. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** What the page reports in #result (main.ts's `report`). */
export interface PageResult {
  state: string;
  backend?: string;
  device?: string;
  skipped?: string[];
  error?: string | null;
  status?: string;
  steps?: number;
  /** From Train to the trained state: the model built, the steps, the held-out scoring after each epoch. */
  seconds?: number;
  /** From Train to the last step's end: the model built and the steps, no held-out scoring. */
  stepSeconds?: number;
  finalLoss?: number | null;
  losses?: number[];
  accuracies?: number[];
  method?: string;
  prediction?: { source: string; label: number | null; predicted: number; logits: number[]; probabilities: number[] } | null;
}

export async function pageResult(page: Page): Promise<PageResult> {
  return JSON.parse((await page.locator('#result').textContent()) ?? '{}') as PageResult;
}

/** Waits until the page reports one of `states`, and returns what it reports then. */
export async function waitForState(page: Page, states: readonly string[], timeout: number): Promise<PageResult> {
  await page.waitForFunction((wanted) => wanted.includes(JSON.parse(document.getElementById('result')!.textContent ?? '{}').state), states, { timeout, polling: 250 });
  return pageResult(page);
}

/** The built page served by Vite's preview server on a free port of 127.0.0.1. */
export interface ServedSite {
  readonly url: string;
  close(): Promise<void>;
}

/** Builds the app into `outDir` and serves that build (what `vite build` and `vite preview` do). */
export async function serveSite(outDir: string): Promise<ServedSite> {
  await build({ root: APP_ROOT, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const server = await preview({ root: APP_ROOT, logLevel: 'warn', build: { outDir }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
  return {
    url: server.resolvedUrls!.local[0]!,
    close: () => new Promise<void>((resolve) => server.httpServer.close(() => resolve())),
  };
}

/**
 * The chromium flags a backend needs: headless chromium on Linux offers WebGPU (an adapter, here
 * SwiftShader's without a GPU) only with --enable-unsafe-webgpu; WebGL 2, wasm and cpu need none.
 */
export function chromiumFlags(backend: BackendName | undefined): string[] {
  return backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : [];
}

export async function launchChromium(backend?: BackendName): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumFlags(backend) });
}

/** The training form's fields (the committed Fashion-MNIST subset unless `data` says otherwise). */
export interface TrainSettings {
  readonly method: string;
  readonly perClass: number;
  readonly epochs: number;
  readonly batch: number;
  readonly backbone?: 'supervised' | 'mae';
  readonly data?: 'fashion-mnist' | 'folder';
}

/** Fills the form, presses Train and waits until the page reports `trained` or `error`. */
export async function trainOnPage(page: Page, settings: TrainSettings, timeout: number): Promise<PageResult> {
  await page.selectOption('#backbone', settings.backbone ?? 'supervised');
  await page.selectOption('#data', settings.data ?? 'fashion-mnist');
  await page.selectOption('#method', settings.method);
  await page.fill('#per-class', String(settings.perClass));
  await page.fill('#epochs', String(settings.epochs));
  await page.fill('#batch', String(settings.batch));
  await page.click('#train');
  return waitForState(page, ['trained', 'error'], timeout);
}

// Runs scripts/bench.ts with Vite's module runner (the app's own TypeScript tooling; Node 20 runs no
// TypeScript by itself): `pnpm --filter @visual-peft/playground bench [--steps N] ...`.
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import { runnerImport } from 'vite';

const { module } = await runnerImport(fileURLToPath(new URL('./bench.ts', import.meta.url)), { configFile: false, logLevel: 'error' });
process.exitCode = await module.main(process.argv.slice(2));

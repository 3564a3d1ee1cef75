import type { Options } from 'tsup';

export declare function createTsupConfig(overrides?: Options): ReturnType<typeof import('tsup').defineConfig>;

export declare function createBrowserAndNodeTsupConfig(overrides?: { browser?: Options; node?: Options }): ReturnType<typeof import('tsup').defineConfig>;

export declare const BROWSER_PACKAGES: readonly string[];
export interface BrowserBundle {
  readonly errors: string[];
  readonly nodeImports: string[];
  readonly inputs: string[];
  readonly minifiedBytes: number;
  readonly gzipBytes: number;
}
export declare function bundleForBrowser(specifier: string): Promise<BrowserBundle>;

export interface GradientImport {
  /** The config's exported name, e.g. `absGradConfig`. */
  readonly name: string;
  /** Its module under `@tensorflow/tfjs-core/dist/gradients/`, e.g. `Abs_grad`. */
  readonly module: string;
}
export declare function tfjsGradientImports(): GradientImport[];
export declare function renderGradientList(imports: readonly GradientImport[]): string;

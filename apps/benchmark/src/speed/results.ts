import type { BackendId } from './plan';

/** A measured time, or why there is none. */
export type Cell = { readonly seconds: number; readonly runs: number; readonly peakBytes?: number; readonly batch?: number } | { readonly skipped: string };

/** What one backend measured. */
export interface BackendResult {
  readonly id: BackendId;
  /** Column header. */
  readonly label: string;
  /** What exactly ran, for the legend. */
  readonly detail: string;
  readonly matmuls: Map<string, Cell>;
  /** Keyed `${batch} forward` / `${batch} forward+backward`. */
  readonly blocks: Map<string, Cell>;
  readonly steps: Map<string, Cell>;
}

export const secondsOf = (cell: Cell | undefined): number | null => (cell !== undefined && 'seconds' in cell ? cell.seconds : null);

export const describeCell = (cell: Cell): string => ('seconds' in cell ? `${cell.seconds.toFixed(3)} s` : `skipped (${cell.skipped})`);

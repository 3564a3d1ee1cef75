/** How `firstDifference` names the two values it compares, and the whole value when they differ at the top. */
export interface DifferenceLabels {
  /** After the first value, e.g. `in the checkpoint`. */
  readonly saved: string;
  /** After the second value, e.g. `now`. */
  readonly current: string;
  /** The path of the values themselves, e.g. `the run`. */
  readonly whole: string;
}

/** A checkpoint's fingerprint beside the run's: `path: A in the checkpoint, B now`. */
export const CHECKPOINT_LABELS: DifferenceLabels = { saved: 'in the checkpoint', current: 'now', whole: 'the run' };

/**
 * The first place two JSON values differ, as `path: A <saved>, B <current>` (object keys joined by
 * dots, array indices in brackets: `config.groups[1]`), or null when they are equal. `path` is the
 * values' own path; the labels default to a checkpoint's fingerprint beside the run's.
 */
export function firstDifference(saved: unknown, current: unknown, path = '', labels: DifferenceLabels = CHECKPOINT_LABELS): string | null {
  const isObject = (value: unknown) => value !== null && typeof value === 'object';
  if (isObject(saved) && isObject(current) && Array.isArray(saved) === Array.isArray(current)) {
    for (const key of new Set([...Object.keys(saved as object), ...Object.keys(current as object)])) {
      const inner = Array.isArray(current) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
      const found = firstDifference((saved as Record<string, unknown>)[key], (current as Record<string, unknown>)[key], inner, labels);
      if (found !== null) return found;
    }
    return null;
  }
  if (JSON.stringify(saved) === JSON.stringify(current)) return null;
  return `${path || labels.whole}: ${JSON.stringify(saved) ?? 'absent'} ${labels.saved}, ${JSON.stringify(current) ?? 'absent'} ${labels.current}`;
}

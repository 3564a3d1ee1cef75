/**
 * The first place two JSON values differ, as `path: A in the checkpoint, B now`, or null: why a
 * checkpoint's fingerprint is not the run's.
 */
export function firstDifference(saved: unknown, current: unknown, path = ''): string | null {
  const bothObjects = (value: unknown) => value !== null && typeof value === 'object';
  if (bothObjects(saved) && bothObjects(current) && Array.isArray(saved) === Array.isArray(current)) {
    const keys = new Set([...Object.keys(saved as object), ...Object.keys(current as object)]);
    for (const key of keys) {
      const found = firstDifference((saved as Record<string, unknown>)[key], (current as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`);
      if (found !== null) return found;
    }
    return null;
  }
  if (JSON.stringify(saved) === JSON.stringify(current)) return null;
  return `${path || 'the run'}: ${JSON.stringify(saved) ?? 'absent'} in the checkpoint, ${JSON.stringify(current) ?? 'absent'} now`;
}

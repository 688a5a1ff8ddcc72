import { expect } from 'vitest';
import { mulberry32 } from './random.mjs';

/**
 * Generated datasets for the tests of whole-dataset scoring (the CLI, scaling out, the stream's memory): batches of
 * logits and labels from the one seeded PRNG, and the comparison of figures to within a number of ulps.
 */
export interface Batch {
  logits: number[][];
  labels: number[];
}

/** `count` batches of 1 to `maxRows` samples over `classes` classes, logits in (-4, 4), labels uniform. */
export function makeBatches(seed: number, count: number, classes = 6, maxRows = 5): Batch[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const n = 1 + Math.floor(random() * maxRows);
    return {
      logits: Array.from({ length: n }, () => Array.from({ length: classes }, () => (random() - 0.5) * 8)),
      labels: Array.from({ length: n }, () => Math.floor(random() * classes)),
    };
  });
}

/** The batches as one /cost request's tensors. */
export function concatenated(batches: Batch[]): Batch {
  return { logits: batches.flatMap((b) => b.logits), labels: batches.flatMap((b) => b.labels) };
}

const view = new DataView(new ArrayBuffer(8));

/** The position of a double in the ordered sequence of all doubles (so that adjacent doubles differ by 1). */
function ordinal(x: number): bigint {
  view.setFloat64(0, x);
  const bits = view.getBigInt64(0);
  return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
}

/** How many doubles apart `a` and `b` are: 0 when equal, 1 for neighbours. */
export function ulps(a: number, b: number): number {
  const d = ordinal(a) - ordinal(b);
  return Number(d < 0n ? -d : d);
}

/** Every figure of `keys` within `maxUlps` of the expected one (null where it is null). */
export function expectWithinUlps(actual: Record<string, unknown>, expected: Record<string, unknown>, keys: string[], maxUlps = 2): void {
  for (const key of keys) {
    const [a, e] = [actual[key], expected[key]];
    if (e === null) {
      expect(a, key).toBeNull();
      continue;
    }
    expect(typeof a, key).toBe('number');
    expect(ulps(a as number, e as number), `${key}: ${String(a)} vs ${String(e)}`).toBeLessThanOrEqual(maxUlps);
  }
}

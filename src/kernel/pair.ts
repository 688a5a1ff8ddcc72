import { twoProductError, twoSum } from './float64.js';

/**
 * A sum held as an unevaluated pair: the value is high + low, with high = fl(high + low). The kernel's compensated
 * sums end as such pairs; mergeable states keep them so that sums from many requests add without a rounding each.
 */
export type Pair = [high: number, low: number];

/** A Neumaier running sum (s, e) as a normalised pair. */
export function pairOf(s: number, e: number): Pair {
  return twoSum(s, e);
}

/**
 * a + b in double-double arithmetic: the accurate addition of the QD library (Hida, Li, Bailey 2001: two TwoSums,
 * two renormalisations), relative error ~2^−104 for sums of one sign.
 */
export function addPairs(a: Pair, b: Pair): Pair {
  const [s, e] = twoSum(a[0], b[0]);
  const [t, f] = twoSum(a[1], b[1]);
  let high = s + (e + t);
  let low = e + t - (high - s);
  const h = high + (low + f);
  low = low + f - (h - high);
  high = h;
  return [high, low];
}

/**
 * (high + low) / n for n > 0 as q + correction, the double-double quotient of summarize(): q = fl(high / n) and the
 * correction (high − q·n + low) / n from Dekker's exact product, so that q + correction is the quotient to ~2^−104 and
 * exp(q)·(1 + correction) is e^quotient to an ulp. The correction is 0 where the product would overflow.
 */
export function quotientParts(p: Pair, n: number): [q: number, correction: number] {
  const q = p[0] / n;
  if (!(Math.abs(p[0]) < 1e300 && n < 1e300 && Math.abs(q) < 1e300)) return [q, 0];
  const product = q * n;
  return [q, (p[0] - product - twoProductError(q, n, product) + p[1]) / n];
}

/** (high + low) / n, rounded once. */
export function quotient(p: Pair, n: number): number {
  const [q, correction] = quotientParts(p, n);
  return q + correction;
}

/** e^((high + low) / n), or null beyond the float64 range. */
export function expOfQuotient(p: Pair, n: number): number | null {
  const [q, correction] = quotientParts(p, n);
  const e = Math.exp(q);
  return Number.isFinite(e) ? e + e * correction : null;
}

/**
 * The float64 building blocks every exact computation here is made of: exact powers of two, Knuth's TwoSum, Dekker's
 * splitting and exact product error, and Neumaier's compensated sum of non-negative terms. Each is written once; the
 * kernel, the summary and the JSON number reader all use these.
 */

/** The smallest positive normal float64, 2^-1022. */
export const MIN_NORMAL = 2.2250738585072014e-308;

/** POW2[e + 1074] = 2^e exactly, for e in [-1074, 1023] (doubling and halving a power of two are exact). */
const POW2 = (() => {
  const table = new Float64Array(1074 + 1023 + 1);
  for (let e = 0, x = 1; e <= 1023; e++, x *= 2) table[e + 1074] = x;
  for (let e = 0, x = 1; e >= -1074; e--, x /= 2) table[e + 1074] = x;
  return table;
})();

/** 2^e exactly, for an integer e in [-1074, 1023] (subnormal powers included); undefined behaviour outside. */
export function pow2(e: number): number {
  return POW2[e + 1074]!;
}

/** Knuth's TwoSum: s = fl(a + b) and the exact rounding error, so a + b = s + e. */
export function twoSum(a: number, b: number): [number, number] {
  const s = a + b;
  const bv = s - a;
  return [s, a - (s - bv) + (b - bv)];
}

/** Dekker's splitting constant for float64, 2^27 + 1: x·SPLITTER splits x into two halves of 26 bits. */
export const SPLITTER = 134217729;

/** The high half of Dekker's split of x (x − splitHigh(x) is the exact low half); x·2^27 must not overflow. */
export function splitHigh(x: number): number {
  const t = SPLITTER * x;
  return t - (t - x);
}

/** The exact error a·b − p of a float64 product p = fl(a·b), by Dekker's splitting (JavaScript has no FMA). */
export function twoProductError(a: number, b: number, p: number): number {
  const aHigh = splitHigh(a);
  const aLow = a - aHigh;
  const bHigh = splitHigh(b);
  const bLow = b - bHigh;
  return aHigh * bHigh - p + aHigh * bLow + aLow * bHigh + aLow * bLow;
}

/**
 * Neumaier's compensated summation (A. Neumaier, "Rundungsfehleranalyse einiger Verfahren zur Summation endlicher
 * Summen", ZAMM 54, 1974; stdlib-js gsumkbn) of NON-NEGATIVE terms: the sum is `high + low`, with a relative error of
 * a few ulps however many terms are added. Precondition: every term added is ≥ 0 (or +Infinity/NaN, which propagate).
 * That is what lets `add` order the pair by comparing values instead of magnitudes: no `Math.abs` in the hot loop.
 * Reuse one instance across rows (`reset`) rather than allocating one per row.
 */
export class NonNegativeSum {
  high = 0;
  low = 0;

  reset(): this {
    this.high = 0;
    this.low = 0;
    return this;
  }

  add(x: number): void {
    const s = this.high;
    const t = s + x;
    this.low += s >= x ? s - t + x : x - t + s;
    this.high = t;
  }

  get value(): number {
    return this.high + this.low;
  }
}

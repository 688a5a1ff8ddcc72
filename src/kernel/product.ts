import { MIN_NORMAL, pow2 } from './float64.js';

/**
 * The product of non-negative float64 factors whose partial products may leave the float64 range although the result
 * does not: w·t·nl = 8e-67 · 2e-258 · 712 is 1.3e-321, and 1e-160 · 1e-164 · 2e300 = 2e-24, while the plain
 * `(w·t)·nl` underflows to 0 in both. Each factor is split exactly into f·2^e with 1 ≤ f < 2; the f are multiplied
 * (one rounding each, at most three, so within 2 ulp) and 2^Σe is applied last, exactly, or with the one rounding a
 * subnormal result needs. The kernel calls it only when a plain partial product falls below the normal range, so its
 * cost (a few dozen flops) does not matter.
 */
export function productOf(a: number, b: number, c: number, d = 1): number {
  if (!(a >= 0 && b >= 0 && c >= 0 && d >= 0)) return NaN; // NaN or a negative factor: not a product of this kind
  if (a === 0 || b === 0 || c === 0 || d === 0) return 0;
  if (a === Infinity || b === Infinity || c === Infinity || d === Infinity) return Infinity;
  const ea = exponentOf(a);
  const eb = exponentOf(b);
  const ec = exponentOf(c);
  const ed = exponentOf(d);
  const mantissa = mantissaOf(a, ea) * mantissaOf(b, eb) * mantissaOf(c, ec) * mantissaOf(d, ed);
  const exponent = ea + eb + ec + ed;
  // mantissa is in [1, 16): 2^exponent scales it exactly while the result is normal; below, one rounding.
  if (exponent > 1023) return Infinity;
  if (exponent >= -1022) return mantissa * pow2(exponent);
  if (exponent >= -2096) return mantissa * MIN_NORMAL * pow2(exponent + 1022);
  return 0;
}

/** x·2^-e in [1, 2), exactly: for a subnormal x the scaling goes through 2^64 so that no power of two leaves the range. */
function mantissaOf(x: number, e: number): number {
  return e >= -1022 ? x * pow2(-e) : x * TWO_64 * pow2(-e - 64);
}

/**
 * x·s for a loss or weight x and a sample weight s, both ≥ 0: 0 when either is 0 (even for an infinite loss), and a
 * product below the normal range recomputed from the factors rather than flushed toward 0.
 */
export function weighted(x: number, s: number): number {
  if (x === 0 || s === 0) return 0;
  const product = x * s;
  return product >= MIN_NORMAL ? product : productOf(x, s, 1);
}

const TWO_64 = 18446744073709551616;

const bits = new DataView(new ArrayBuffer(8));

/** The binary exponent of x > 0 finite: 2^e ≤ x < 2^(e+1), subnormals included. */
function exponentOf(x: number): number {
  if (x < MIN_NORMAL) return exponentOf(x * TWO_64) - 64;
  bits.setFloat64(0, x);
  return ((bits.getUint16(0) >>> 4) & 0x7ff) - 1023;
}

import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import {
  EXP_TABLE,
  WASM_MIN_LENGTH as W,
  exp,
  sumExpBackend,
  sumExpShifted,
  sumExpShiftedJs,
} from '../../src/kernel/exp.js';
import { mulberry32 as random } from '../random.mjs';

/*
 * Accuracy of the table-driven exp and of the fused Σ e^(z − m), against references that share nothing with the code:
 *  - decimal.js at 50 digits, every float64 converted exactly, for the named arguments and the table;
 *  - for the 100 000-argument sweep, where decimal.js's exp (~200 µs a call) would take half a minute, exact binary
 *    fixed-point arithmetic in BigInt (400 fractional bits, Taylor series; error below 2^−380), itself checked
 *    against decimal.js on a sample below.
 * Error in ulps: |y − V| / ulp(V), with V the exact value and ulp(V) = 2^(max(⌊log2 V⌋, −1022) − 52), the spacing of
 * float64 values in V's binade (2^−1074 for subnormals). The correctly rounded result has error ≤ 0.5 ulp.
 */

const D = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -9e15, toExpPos: 9e15 });
type Dec = InstanceType<typeof D>;

/** A float64 as mantissa·2^exponent, exactly. */
function parts(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  return { mantissa: bits >> 63n ? -mantissa : mantissa, exponent: (biased === 0 ? 1 : biased) - 1075 };
}

function decimalOf(x: number): Dec {
  const { mantissa, exponent } = parts(x);
  return new D(mantissa.toString()).mul(new D(2).pow(exponent));
}

const P = 400; // fractional bits of the fixed-point reference
const ONE = 1n << BigInt(P);
const LN2 = BigInt(new D(2).ln().mul(new D(2).pow(P)).toDecimalPlaces(0).toFixed(0)); // ln 2 · 2^P, from decimal.js

/** x·2^P as a BigInt (exact, or truncated below 2^−P). */
function fixed(x: number): bigint {
  const { mantissa, exponent } = parts(x);
  const shift = exponent + P;
  return shift >= 0 ? mantissa << BigInt(shift) : mantissa / (1n << BigInt(-shift));
}

/** e^(X/2^P) = F·2^(k − P) for a fixed-point X: X = k·ln2 + R, e^R by Taylor on R/2^10 squared ten times. */
function expFixed(X: bigint, approx: number): { F: bigint; k: number } {
  const k = Math.round(approx / Math.LN2);
  const R = X - BigInt(k) * LN2;
  const scale = BigInt(P + 10);
  let sum = ONE;
  let term = ONE;
  for (let i = 1n; term !== 0n; i++) {
    term = ((term * R) >> scale) / i;
    sum += term;
  }
  for (let i = 0; i < 10; i++) sum = (sum * sum) >> BigInt(P);
  return { F: sum, k };
}

/** |y − V| in ulps of V, for V = F·2^(k − P). */
function ulpsFrom(y: number, { F, k }: { F: bigint; k: number }): number {
  const exponentV = F.toString(2).length - 1 + k - P; // ⌊log2 V⌋
  const ulpExponent = Math.max(exponentV, -1022) - 52;
  const { mantissa, exponent } = y === 0 ? { mantissa: 0n, exponent: 0 } : parts(y);
  const base = Math.min(exponent, k - P, ulpExponent);
  const Y = mantissa << BigInt(exponent - base);
  const V = F << BigInt(k - P - base);
  const diff = Y > V ? Y - V : V - Y;
  return Number((diff << 20n) / (1n << BigInt(ulpExponent - base))) / 2 ** 20;
}

/** Error of exp(x) in ulps of the exact e^x. */
function ulpsOfExp(y: number, x: number): number {
  return ulpsFrom(y, expFixed(fixed(x), x));
}

/** Error of a term in ulps of the exact e^(z − m) (the difference taken exactly, not rounded). */
function ulpsOfShiftedExp(y: number, z: number, m: number): number {
  return ulpsFrom(y, expFixed(fixed(z) - fixed(m), z - m));
}


function nextUp(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigInt64(0);
  view.setBigInt64(0, x === 0 ? 1n : x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}
function nextDown(x: number): number {
  return -nextUp(-x);
}

/** One term through the fused sum: the row [m, z], the maximum m skipped; padded to `length` with −Infinity. */
function term(z: number, m: number, length: number): number {
  const row = new Float64Array(length).fill(-Infinity);
  row[0] = m;
  row[1] = z;
  return sumExpShifted(row, 0, length, m, 0);
}

/** Neumaier-compensated Σ Math.exp(x) over a row, the maximum left out: the loop the kernel used before. */
function compensatedMathExp(row: Float64Array, m: number, skip: number): number {
  let s = 0;
  let e = 0;
  row.forEach((z, c) => {
    if (c === skip) return;
    const x = Math.exp(z - m);
    const t = s + x;
    e += s >= x ? s - t + x : x - t + s;
    s = t;
  });
  return s + e;
}

const LN2_OVER_128 = Math.LN2 / 128;
/** The named hard arguments: zeros, tiny negatives, reduction boundaries, the edges of each path, the limits. */
const NASTY: number[] = [
  0, -0, -5e-324, -1e-320, -1e-300, -2.2250738585072014e-308, -1e-200, -(2 ** -60), -(2 ** -53), -(2 ** -30), -1e-10,
  -1e-5, -0.5 * LN2_OVER_128, -LN2_OVER_128, -1.5 * LN2_OVER_128, -Math.LN2 / 2, -Math.LN2, -1, -2 * Math.LN2, -10,
  -Math.E, -Math.PI, -100, -500, -512, -600, -700, nextUp(-700), nextDown(-700), -708,
  -708.3964185322641, nextUp(-708.3964185322641), nextDown(-708.3964185322641), -709, -720, -744.4400719213812, -745,
  -745.1332191019411, nextUp(-745.1332191019411), nextDown(-745.1332191019411), -745.2,
];
// Halfway points between reduction nodes, where n = round(x·128/ln2) flips, and the nodes themselves (r = 0).
for (const n of [1, 2, 63, 64, 127, 128, 129, 255, 1000, 12345, 65536, 100000, 129000]) {
  for (const x of [-(n + 0.5) * LN2_OVER_128, -n * LN2_OVER_128]) {
    if (x >= -745.2) NASTY.push(x, nextUp(x), nextDown(x));
  }
}

describe('exp - table and backend', () => {
  it('EXP_TABLE - T_j is 2^(j/128) rounded to nearest and T_j·(1 + t_j) carries it to 2^-100', () => {
    for (let j = 0; j < 128; j++) {
      const want = new D(2).pow(new D(j).div(128));
      const T = EXP_TABLE[2 * j]!;
      const t = EXP_TABLE[2 * j + 1]!;
      const ulp = 2 ** (Math.floor(Math.log2(T)) - 52);
      expect(decimalOf(T).minus(want).abs().div(ulp).toNumber(), `T_${j}`).toBeLessThanOrEqual(0.5);
      const carried = decimalOf(T).mul(decimalOf(t).plus(1));
      expect(carried.minus(want).abs().div(want).toNumber(), `t_${j}`).toBeLessThan(2 ** -100);
    }
  });

  it('sumExpShifted - runs the WebAssembly SIMD kernel in Node', () => {
    expect(sumExpBackend()).toBe('wasm-simd128');
  });

  it('fixed-point reference - agrees with 50-digit decimal.js to 1e-45 on 300 arguments and the named ones', () => {
    const next = random(7);
    const args = [...NASTY.filter((x) => x !== 0), ...Array.from({ length: 300 }, () => -next() * 745.2)];
    for (const x of args) {
      const { F, k } = expFixed(fixed(x), x);
      const viaBigInt = new D(F.toString()).mul(new D(2).pow(k - P));
      const viaDecimal = decimalOf(x).exp();
      expect(viaBigInt.minus(viaDecimal).abs().div(viaDecimal).toNumber(), `x = ${x}`).toBeLessThan(1e-45);
    }
  });
});

describe('exp - accuracy against the exact value', () => {
  it('named arguments - within 0.516 ulp on the table path [-700, 709], within 1 ulp below it (Math.exp)', () => {
    for (const x of [...NASTY, 0.5, 1, Math.LN2, 10, 100, 700, 709]) {
      const ulps = ulpsOfExp(exp(x), x);
      expect(ulps, `x = ${x}`).toBeLessThanOrEqual(x >= -700 ? 0.516 : 1);
    }
  });

  it('100 000 random arguments in [-745.2, 0] (1 in 5 log-uniform in 1e-300..1) - within 0.516 / 1 ulp', () => {
    const next = random(2024);
    let worstFast = 0;
    let worstSlow = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = i % 5 === 4 ? -(10 ** (-300 * next())) : -745.2 * next();
      const ulps = ulpsOfExp(exp(x), x);
      if (x >= -700) worstFast = Math.max(worstFast, ulps);
      else worstSlow = Math.max(worstSlow, ulps);
    }
    expect(worstFast).toBeLessThanOrEqual(0.516); // the analytical bound of the table-driven path
    expect(worstSlow).toBeLessThanOrEqual(1); // Math.exp below -700
  });

  it('limits - 0 and -0 give exactly 1, -Infinity exactly 0, NaN NaN, overflow Infinity', () => {
    expect(exp(0)).toBe(1);
    expect(exp(-0)).toBe(1);
    expect(exp(-Infinity)).toBe(0);
    expect(exp(-746)).toBe(0);
    expect(exp(Number.NaN)).toBeNaN();
    expect(exp(710)).toBe(Infinity);
    expect(exp(-5e-324)).toBe(1);
  });
});

describe('sumExpShifted - terms', () => {
  it('a term equals exp(z - m) bit for bit when z - m is exact, on both paths', () => {
    const next = random(11);
    for (let i = 0; i < 20_000; i++) {
      const x = i % 4 === 3 ? -(10 ** (-300 * next())) : -745.2 * next();
      const want = exp(x);
      expect(term(x, 0, 2)).toBe(want); // JavaScript path
      expect(term(x, 0, W)).toBe(want); // WebAssembly path
    }
  });

  it('z - m rounded - each term within 0.516 ulp of e^(z - m) for the exact difference (1.5 below -700)', () => {
    const next = random(5);
    const cases: Array<[number, number]> = [
      [-400.3, 300.1],
      [-0.1, 0.7],
      [-0.1, 600.3],
      [-1e-300, 699.9],
      [1e-300, 699.9],
    ];
    for (let i = 0; i < 5_000; i++) {
      const m = 1000 * next();
      cases.push([m - 745 * next(), m]);
    }
    for (const [z, m] of cases) {
      const exactDifference = decimalOf(z).minus(decimalOf(m)).toNumber();
      const bound = exactDifference >= -700 ? 0.516 : 1.5;
      for (const length of [2, W]) {
        expect(ulpsOfShiftedExp(term(z, m, length), z, m), `z=${z} m=${m} n=${length}`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('masked classes - -Infinity contributes exactly 0 on both paths', () => {
    for (const length of [2, 3, W - 1, W, W + 1, 4097]) {
      const row = new Float64Array(length).fill(-Infinity);
      row[length - 1] = 3;
      expect(sumExpShifted(row, 0, length, 3, length - 1)).toBe(0);
      row[0] = 1;
      expect(sumExpShifted(row, 0, length, 3, length - 1)).toBe(exp(-2));
    }
  });
});

describe('sumExpShifted - sums', () => {
  /** A row of normal logits with its maximum and arg-max; `offset` values of padding before it. */
  function logits(seed: number, n: number, sigma: number, offset: number) {
    const next = random(seed);
    const input = new Float64Array(offset + n);
    for (let c = 0; c < offset + n; c++) {
      input[c] = sigma * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    }
    let k = 0;
    for (let c = 1; c < n; c++) if (input[offset + c]! > input[offset + k]!) k = c;
    return { input, k, m: input[offset + k]! };
  }

  it('equals the compensated sum of Math.exp terms within 1e-15 relative - lengths around paths and chunks', () => {
    // Both sides are compensated sums of terms within 1 ulp (< 2.3e-16) of e^x: they can differ by ~2 ulps.
    for (const n of [1, 2, 3, W - 1, W, W + 1, 64, 1000, 4095, 4096, 4097, 8193, 50257]) {
      for (const sigma of [0.01, 3, 30]) {
        const offset = n % 7;
        const { input, k, m } = logits(n * 31 + sigma, n, sigma, offset);
        const want = compensatedMathExp(input.subarray(offset), m, k);
        const got = sumExpShifted(input, offset, n, m, k);
        if (want === 0) expect(got).toBe(0);
        else expect(Math.abs(got - want) / want, `n=${n} sigma=${sigma}`).toBeLessThanOrEqual(1e-15);
        const js = sumExpShiftedJs(input, offset, n, m, k);
        if (want !== 0) expect(Math.abs(js - want) / want, `js n=${n} sigma=${sigma}`).toBeLessThanOrEqual(1e-15);
      }
    }
  });

  it('equals the exact sum within 4.5e-16 relative (2 ulps) - 1000 terms, including ones below e^-700', () => {
    const { input, k, m } = logits(99, 1000, 200, 0);
    let total = new D(0);
    input.forEach((z, c) => {
      if (c !== k) total = total.plus(decimalOf(z).minus(decimalOf(m)).exp());
    });
    for (const got of [sumExpShifted(input, 0, 1000, m, k), sumExpShiftedJs(input, 0, 1000, m, k)]) {
      expect(decimalOf(got).minus(total).abs().div(total).toNumber()).toBeLessThanOrEqual(4.5e-16);
    }
  });

  it('tiny terms - below e^-700 (Math.exp, subnormal, underflow to 0) they keep the sum within 1 ulp', () => {
    const rows = [
      [0, -702, -705.5], // every term normal but outside the table path
      [0, -30, -710, -710, ...new Array(40).fill(-745.5)], // subnormal and vanishing terms beside a normal one
    ];
    for (const values of rows) {
      const row = Float64Array.from(values);
      const want = values.slice(1).reduce((acc, x) => acc.plus(decimalOf(x).exp()), new D(0));
      for (const got of [sumExpShifted(row, 0, row.length, 0, 0), sumExpShiftedJs(row, 0, row.length, 0, 0)]) {
        expect(decimalOf(got).minus(want).abs().div(want).toNumber(), `${values.slice(0, 4)}`).toBeLessThanOrEqual(
          2.3e-16,
        );
      }
    }
  });

  it('skip outside the row leaves out nothing; n = 0 gives 0; a range beyond the array throws', () => {
    const row = Float64Array.from([0, -1, -2]);
    expect(sumExpShifted(row, 0, 3, 0, -1)).toBe(compensatedMathExp(row, 0, -1));
    expect(sumExpShifted(row, 0, 0, 0, 0)).toBe(0);
    expect(() => sumExpShifted(row, 1, 3, 0, 0)).toThrow(RangeError);
    expect(() => sumExpShifted(new Float64Array(2 * W), W, W + 1, 0, 0)).toThrow(RangeError);
  });
});

import { Decimal } from 'decimal.js';

/**
 * An independent reference for tests: the cross-entropy formulas evaluated directly in 40-digit decimal arithmetic
 * (decimal.js), with every float64 input converted to decimal exactly from its binary value. It shares no code with
 * src/kernel and uses none of its tricks (no log1p, no compensated sums): precision does the work instead.
 */
export const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -9e15, toExpPos: 9e15 });
export type Dec = InstanceType<typeof D>;

const TWO = new D(2);

/** The exact value of a float64 as a decimal (to the working precision). */
export function exact(x: number): Dec {
  if (!Number.isFinite(x)) return new D(x);
  if (x === 0 || Number.isInteger(x)) return new D(BigInt(x).toString());
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? -1 : 1;
  const exponentBits = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  const mantissa = exponentBits === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (exponentBits === 0 ? 1 : exponentBits) - 1075;
  return new D(mantissa.toString()).mul(TWO.pow(exponent)).mul(sign);
}

export interface ReferenceRequest {
  kind: 'logits' | 'probabilities';
  /** rows of C values */
  input: number[][];
  labels?: number[];
  targets?: number[][];
  classWeights?: number[];
  ignoreIndex?: number;
  labelSmoothing?: number;
  epsilon?: number;
}

export interface ReferenceResult {
  losses: Dec[];
  sum: Dec;
  totalWeight: Dec;
  count: number;
  cost: Dec | null;
}

/** −log q_c for every class of a row, in decimal. */
function negLogProbabilities(kind: ReferenceRequest['kind'], row: number[], epsilon: number): Dec[] {
  if (kind === 'probabilities') {
    return row.map((p) => {
      const clipped = Math.min(Math.max(p, epsilon), 1 - epsilon); // float64, as numpy.clip
      return exact(clipped).ln().neg();
    });
  }
  const z = row.map(exact);
  let k = 0;
  z.forEach((zc, c) => {
    if (zc.gt(z[k]!)) k = c;
  });
  const m = z[k]!;
  // t = Σ_{c≠k} exp(z_c − m); ln(1 + t) is taken at 40 digits beyond t's magnitude, so a tiny t keeps 40 digits.
  let t = new D(0);
  z.forEach((zc, c) => {
    if (c !== k) t = t.plus(zc.minus(m).exp());
  });
  const digits = t.isZero() ? 0 : Math.max(0, -t.e);
  const Wide = D.clone({ precision: 40 + digits });
  const lse = m.plus(new D(new Wide(1).plus(new Wide(t.toString())).ln().toString()));
  return z.map((zc) => lse.minus(zc));
}

export function referenceCrossEntropy(r: ReferenceRequest): ReferenceResult {
  const C = r.input[0]!.length;
  const eps = exact(r.labelSmoothing ?? 0);
  const keep = new D(1).minus(eps);
  const spread = eps.div(C);
  const w = (c: number) => (r.classWeights === undefined ? new D(1) : exact(r.classWeights[c]!));
  const ignore = r.ignoreIndex ?? -100;
  const losses: Dec[] = [];
  let sum = new D(0);
  let totalWeight = new D(0);
  let count = 0;
  r.input.forEach((row, i) => {
    const nl = negLogProbabilities(r.kind, row, r.epsilon ?? 0);
    let loss = new D(0);
    if (r.labels !== undefined) {
      const y = r.labels[i]!;
      if (y === ignore) {
        losses.push(loss);
        return;
      }
      count++;
      totalWeight = totalWeight.plus(w(y));
      loss = keep.mul(w(y)).mul(nl[y]!);
      if (!spread.isZero()) {
        let s = new D(0);
        for (let c = 0; c < C; c++) s = s.plus(w(c).mul(nl[c]!));
        loss = loss.plus(spread.mul(s));
      }
    } else {
      count++;
      totalWeight = totalWeight.plus(1);
      for (let c = 0; c < C; c++) {
        const coefficient = w(c).mul(keep.mul(exact(r.targets![i]![c]!)).plus(spread));
        if (!coefficient.isZero()) loss = loss.plus(coefficient.mul(nl[c]!));
      }
    }
    losses.push(loss);
    sum = sum.plus(loss);
  });
  return { losses, sum, totalWeight, count, cost: totalWeight.isZero() ? null : sum.div(totalWeight) };
}

/** |got − want| ≤ tolerance·|want| (so a reference of 0 demands exactly 0). */
export function relativeError(got: number, want: Dec): number {
  if (want.isZero()) return got === 0 ? 0 : Infinity;
  return exact(got).minus(want).abs().div(want.abs()).toNumber();
}

/**
 * Agreement to `tolerance` relative, except where the reference lies below the float64 subnormal resolution: a value
 * like 1e-500 has no float64 with 13 digits, and the nearest float64 (0 or a few subnormal steps) is the right answer.
 */
export function agrees(got: number, want: Dec, tolerance: number): boolean {
  return relativeError(got, want) <= tolerance || exact(got).minus(want).abs().lte(Number.MIN_VALUE * 16);
}

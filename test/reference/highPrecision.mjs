// An independent reference for tests and for the committed fixture: the cross-entropy formulas evaluated directly in
// 50-significant-digit decimal arithmetic (decimal.js), every float64 input converted to decimal exactly from its
// binary value. It shares no code with src/kernel and none of its tricks (no compensated sums, no float64 log1p):
// precision does the work. The one care it takes: ln(1 + t) for a tiny t is evaluated with 50 digits beyond t's
// magnitude, so that a true loss of 1e-300 still has 50 correct digits.
import { Decimal } from 'decimal.js';

export const PRECISION = 50;
export const D = Decimal.clone({ precision: PRECISION, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -9e15, toExpPos: 9e15 });

const TWO = new D(2);

/** The exact value of a float64 as a decimal (to the working precision). */
export function exact(x) {
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

/** −ln q_c for every class of a row (Infinity for a masked class or a probability of 0). */
export function negLogProbabilities(kind, row, epsilon, renormalize = false) {
  if (kind === 'probabilities' && renormalize) {
    // p_c / Σ p exactly; clipped like the float64 quotient would be, then the log of the exact quotient.
    const total = row.reduce((s, p) => s.plus(exact(p)), new D(0));
    return row.map((p) => {
      const q = exact(p).div(total);
      if (q.lt(epsilon)) return exact(epsilon).ln().neg();
      if (q.gt(exact(1 - epsilon))) return exact(1 - epsilon).ln().neg();
      return q.ln().neg();
    });
  }
  if (kind === 'probabilities') {
    return row.map((p) => exact(Math.min(Math.max(p, epsilon), 1 - epsilon)).ln().neg()); // clipped in float64, as numpy.clip
  }
  const z = row.map(exact);
  let k = 0;
  z.forEach((zc, c) => {
    if (zc.gt(z[k])) k = c;
  });
  const m = z[k];
  // exp(d) for d < −1e5 is below 1e-43000: it cannot change 50 digits of anything a float64 can hold, and decimal.js
  // does not evaluate exp of arguments like −2e300 reliably, so such terms are left out.
  let t = new D(0);
  z.forEach((zc, c) => {
    const d = zc.minus(m);
    if (c !== k && d.gte(-1e5)) t = t.plus(d.exp());
  });
  const Wide = D.clone({ precision: PRECISION + (t.isZero() ? 0 : Math.max(0, -t.e)) });
  const log1pT = new D(new Wide(1).plus(new Wide(t.toString())).ln().toString());
  // logsumexp(z) − z_c written as (m − z_c) + ln(1 + t): with z of 1e300, forming logsumexp first would round away
  // everything below 1e250 at 50 digits.
  return z.map((zc) => m.minus(zc).plus(log1pT));
}

/** The index of a row's largest value (the lowest index on ties). */
export function argmax(row) {
  let k = 0;
  row.forEach((v, c) => {
    if (v > row[k]) k = c;
  });
  return k;
}

/**
 * The reference figures of a request given as rows: { kind, input (rows of C), labels? | targets? (rows of C),
 * classWeights?, ignoreIndex?, labelSmoothing?, epsilon? }. Losses, sum, totalWeight and cost in nats.
 */
export function referenceCrossEntropy(r) {
  const C = r.input[0].length;
  const eps = exact(r.labelSmoothing ?? 0);
  const keep = new D(1).minus(eps);
  const spread = eps.div(C);
  const w = (c) => (r.classWeights === undefined ? new D(1) : exact(r.classWeights[c]));
  const sw = (i) => (r.sampleWeights === undefined ? new D(1) : exact(r.sampleWeights[i]));
  const ignore = r.ignoreIndex ?? -100;
  const losses = [];
  let sum = new D(0);
  let totalWeight = new D(0);
  let count = 0;
  let correct = 0;
  r.input.forEach((row, i) => {
    let loss = new D(0);
    if (r.labels !== undefined) {
      const y = r.labels[i];
      if (y === ignore) {
        losses.push(loss);
        return;
      }
      const nl = negLogProbabilities(r.kind, row, r.epsilon ?? 0, r.renormalize);
      count++;
      if (argmax(row) === y) correct++;
      totalWeight = totalWeight.plus(w(y).mul(sw(i)));
      if (!keep.mul(w(y)).isZero()) loss = keep.mul(w(y)).mul(nl[y]);
      if (!spread.isZero()) {
        let s = new D(0);
        for (let c = 0; c < C; c++) if (!w(c).isZero()) s = s.plus(w(c).mul(nl[c]));
        loss = loss.plus(spread.mul(s));
      }
    } else {
      const nl = negLogProbabilities(r.kind, row, r.epsilon ?? 0, r.renormalize);
      count++;
      if (argmax(row) === argmax(r.targets[i])) correct++;
      totalWeight = totalWeight.plus(sw(i));
      for (let c = 0; c < C; c++) {
        const coefficient = w(c).mul(keep.mul(exact(r.targets[i][c])).plus(spread));
        if (!coefficient.isZero()) loss = loss.plus(coefficient.mul(nl[c]));
      }
    }
    loss = loss.mul(sw(i));
    losses.push(loss);
    sum = sum.plus(loss);
  });
  return {
    losses,
    sum,
    totalWeight,
    count,
    correct,
    cost: totalWeight.isZero() ? null : sum.div(totalWeight),
  };
}

/** |got − want| / |want| (0 against 0, Infinity when want is 0 and got is not). */
export function relativeError(got, want) {
  if (want.isZero()) return got === 0 ? 0 : Infinity;
  return exact(got).minus(want).abs().div(want.abs()).toNumber();
}

/**
 * Agreement to `tolerance` relative, except where the reference lies below the float64 subnormal resolution: a value
 * like 1e-500 has no float64 with 13 digits, and the nearest float64 (0 or a few subnormal steps) is the right answer.
 */
export function agrees(got, want, tolerance) {
  return relativeError(got, want) <= tolerance || exact(got).minus(want).abs().lte(Number.MIN_VALUE * 16);
}

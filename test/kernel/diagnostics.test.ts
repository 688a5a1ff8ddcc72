import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crossEntropyRows } from '../../src/kernel/crossEntropy.js';
import {
  diagnose,
  diagnosticsFigures,
  mergeDiagnostics,
  type Diagnostics,
  type DiagnosticsFigures,
  type DiagnosticsSpec,
  type DiagnosticsState,
} from '../../src/kernel/diagnostics.js';
import { evaluate } from '../../src/kernel/evaluate.js';
import { referenceDiagnostics } from '../reference/diagnostics.mjs';
import { D, agrees, exact, relativeError, type ReferenceRequest } from '../reference/highPrecision.mjs';
import { sliceRows, taskOf } from './taskOf.js';
import { mulberry32 as prng } from '../random.mjs';

/** Smooth figures against the 50-digit reference (the bound). */
const TOLERANCE = 1e-12;
const ULP = Number.EPSILON;
/** What 50 significant digits resolve in sums of terms of order 1. */
const REFERENCE_RESOLUTION = 1e-45;

const ALL: DiagnosticsSpec = { probability: true, rank: true, entropy: true, kl: true, brier: true, topK: [1, 5], calibrationBins: 15 };
const NONE: DiagnosticsSpec = { probability: false, rank: false, entropy: false, kl: false, brier: false, topK: null, calibrationBins: null };

type Request = Parameters<typeof taskOf>[0];

function diagnosed(r: Request, spec: DiagnosticsSpec = ALL): Diagnostics & { figures: DiagnosticsFigures } {
  const d = diagnose(taskOf(r), spec);
  return { ...d, figures: diagnosticsFigures(d.state, r.unit ?? 'nats') };
}

/** Per-row figures as plain arrays (NaN for ignored rows). */
const rowsOf = (d: Diagnostics, f: 'probability' | 'rank' | 'entropy' | 'kl' | 'brier') => [...d.rows[f]!];

const close = (a: number, b: number, tolerance: number) =>
  a === b || Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));

/**
 * Every smooth per-row figure within TOLERANCE of the reference, ranks equal. Where q is rounded (logits: KL and
 * Brier) or t′ is (smoothing: KL), the conditioning limit documented in diagnostics.ts is allowed on top: 4·2^−52
 * times the figure's sensitivity to relative changes of the q_c, which only matters when the prediction matches its
 * target so closely that the figure is below ~1e-4 of that sensitivity.
 */
function expectReference(r: ReferenceRequest): Diagnostics {
  const d = diagnose(taskOf(r), ALL);
  const ref = referenceDiagnostics(r);
  ref.rows.forEach((want, i) => {
    if (want === null) {
      for (const f of ['probability', 'rank', 'entropy', 'kl', 'brier'] as const) expect(d.rows[f]![i]).toBeNaN();
      return;
    }
    for (const f of ['probability', 'entropy', 'kl', 'brier'] as const) {
      const got = d.rows[f]![i]!;
      const rounded = r.kind === 'logits' ? f === 'kl' || f === 'brier' : f === 'kl' && (r.labelSmoothing ?? 0) > 0;
      const allowance = f === 'kl' || f === 'brier' ? 4 * ULP * want.sensitivity[f] : 0;
      const error = exact(got).minus(want[f]).abs();
      // REFERENCE_RESOLUTION: a KL of 0 comes out of 50 digits as ±1e-49 (ln t′ and ln q of 1/3 do not cancel exactly)
      const ok = agrees(got, want[f], TOLERANCE) || error.lte(REFERENCE_RESOLUTION) || (rounded && error.lte(allowance));
      expect(ok, `${f}[${i}]: got ${got}, want ${want[f].toPrecision(20)}`).toBe(true);
    }
    expect(d.rows.rank![i], `rank[${i}]`).toBe(want.rank);
  });
  return d;
}

describe('diagnostics - values derived by hand', () => {
  it('two equal logits - q = 1/2 each: probability 1/2, rank 1, entropy = KL = ln 2, Brier 1/2', () => {
    // Brier: (1/2 − 1)² + (1/2)² = 1/2. Both labels tie at the maximum, so both have rank 1; only label 0 is the
    // arg-max (lowest index), so accuracy is 1/2 while top-1 is 1.
    const d = diagnosed({ kind: 'logits', input: [[0, 0], [0, 0]], labels: [0, 1] });
    expect(rowsOf(d, 'probability')).toEqual([0.5, 0.5]);
    expect(rowsOf(d, 'rank')).toEqual([1, 1]);
    expect(rowsOf(d, 'entropy')).toEqual([Math.LN2, Math.LN2]);
    expect(rowsOf(d, 'kl')).toEqual([Math.LN2, Math.LN2]);
    expect(rowsOf(d, 'brier')).toEqual([0.5, 0.5]);
    expect(d.figures.top_k_accuracy).toEqual({ '1': 1, '5': 1 });
    expect(d.figures.mean_reciprocal_rank).toBe(1);
    expect(d.figures.calibration!.bins[7]).toEqual({ lower: 7 / 15, upper: 8 / 15, count: 2, confidence: 0.5, accuracy: 0.5 });
  });

  it('probabilities [1/2, 1/4, 1/4], label 1 - rank 2, entropy 3/2 ln 2, KL 2 ln 2, Brier 7/8', () => {
    // entropy: 1/2·ln 2 + 2·(1/4·ln 4) = 1/2 ln 2 + ln 2; KL of a one-hot label = −ln q_y = ln 4;
    // Brier: (1/2)² + (1/4 − 1)² + (1/4)² = 1/4 + 9/16 + 1/16 = 7/8. Rank: only 1/2 is strictly above 1/4.
    const d = diagnosed({ kind: 'probabilities', input: [[0.5, 0.25, 0.25]], labels: [1] });
    expect(d.rows.probability![0]).toBe(0.25);
    expect(d.rows.rank![0]).toBe(2);
    expect(close(d.rows.entropy![0]!, 1.5 * Math.LN2, ULP)).toBe(true);
    expect(d.rows.kl![0]).toBe(2 * Math.LN2);
    expect(d.rows.brier![0]).toBe(0.875);
    expect(d.figures.top_k_accuracy).toEqual({ '1': 0, '5': 1 });
    expect(d.figures.mean_reciprocal_rank).toBe(0.5);
  });

  it('soft targets [1/4, 1/2, 1/4] on [1/2, 1/4, 1/4] - true class 1, KL ln 2 / 4, Brier 1/8', () => {
    // KL: 1/4·ln(1/2) + 1/2·ln 2 + 1/4·ln 1 = ln 2 / 4; Brier: (1/4)² + (1/4)² + 0 = 1/8.
    const d = diagnosed({ kind: 'probabilities', input: [[0.5, 0.25, 0.25]], targets: [[0.25, 0.5, 0.25]] });
    expect(d.rows.probability![0]).toBe(0.25); // q of the target's arg-max
    expect(close(d.rows.kl![0]!, Math.LN2 / 4, 2 * ULP)).toBe(true);
    expect(d.rows.brier![0]).toBe(0.125);
    expect(d.rows.rank![0]).toBe(2);
  });

  it('soft targets with tied maxima - the true class is the lowest index, as accuracy takes it', () => {
    const d = diagnosed({ kind: 'probabilities', input: [[0.25, 0.5, 0.25]], targets: [[0.4, 0.2, 0.4]] });
    expect(d.rows.probability![0]).toBe(0.25); // class 0
    expect(d.rows.rank![0]).toBe(2);
  });

  it('label smoothing 1/2 on a label - KL against t′ = [3/4, 1/4], Brier against the unsmoothed label', () => {
    // t′ = (1 − 1/2)·[1, 0] + 1/2 / 2 = [3/4, 1/4]; KL = 3/4·ln(3/2) + 1/4·ln(1/2); Brier = 1/4 + 1/4.
    const d = diagnosed({ kind: 'probabilities', input: [[0.5, 0.5]], labels: [0], labelSmoothing: 0.5 });
    expect(close(d.rows.kl![0]!, 0.75 * Math.log(1.5) - 0.25 * Math.LN2, 4 * ULP)).toBe(true);
    expect(d.rows.brier![0]).toBe(0.5);
    expect(d.rows.entropy![0]).toBe(Math.LN2);
  });

  it('four equal logits - the uniform prediction: Brier 1 − 1/4, entropy ln 4, probability 1/4', () => {
    // Brier: (1/4 − 1)² + 3·(1/4)² = 9/16 + 3/16 = 3/4.
    const d = diagnosed({ kind: 'logits', input: [[3, 3, 3, 3]], labels: [2] });
    expect(d.rows.brier![0]).toBe(0.75);
    expect(close(d.rows.entropy![0]!, 2 * Math.LN2, ULP)).toBe(true);
    expect(d.rows.probability![0]).toBe(0.25);
    expect(d.rows.rank![0]).toBe(1);
  });

  it('epsilon - q is clipped to [ε, 1 − ε] before every figure, and ranks compare the clipped values', () => {
    const eps = 1e-3;
    const d = diagnosed({ kind: 'probabilities', input: [[1, 0, 0]], labels: [1], epsilon: eps });
    const q = [1 - eps, eps, eps]; // the clipped row
    expect(d.rows.probability![0]).toBe(eps);
    expect(d.rows.rank![0]).toBe(2); // class 2 ties with class 1 after clipping and is not above it
    expect(d.rows.kl![0]).toBe(-Math.log(eps));
    const entropy = q.reduce((h, x) => h - x * Math.log(x), 0);
    expect(close(d.rows.entropy![0]!, entropy, 4 * ULP)).toBe(true);
    expect(close(d.rows.brier![0]!, q[0]! ** 2 + (q[1]! - 1) ** 2 + q[2]! ** 2, 2 * ULP)).toBe(true);
    expect(d.figures.calibration!.bins[14]!.confidence).toBe(1 - eps);
  });

  it('a zero target on a zero probability - contributes 0, not NaN (0·ln 0 = 0)', () => {
    const d = diagnosed({ kind: 'probabilities', input: [[0, 1]], targets: [[0, 1]] });
    expect(d.rows.kl![0]).toBe(0);
    expect(d.rows.entropy![0]).toBe(0);
    expect(d.rows.brier![0]).toBe(0);
    expect(d.nonFinite).toBeNull();
  });
});

describe('diagnostics - masked classes, extreme logits, ignored samples', () => {
  it('a masked class (-Infinity) has q = 0 and adds nothing', () => {
    const d = diagnosed({ kind: 'logits', input: [[0, -Infinity, 0]], labels: [0] });
    expect(d.rows.probability![0]).toBe(0.5);
    expect(d.rows.entropy![0]).toBe(Math.LN2);
    expect(d.rows.brier![0]).toBe(0.5); // (1/2 − 1)² + 0 + (1/2)²
    expect(d.rows.kl![0]).toBe(Math.LN2);
    expect(d.rows.rank![0]).toBe(1);
    const soft = diagnosed({ kind: 'logits', input: [[0, -Infinity, 0]], targets: [[0.5, 0, 0.5]] });
    expect(soft.rows.kl![0]).toBe(0);
    expect(soft.nonFinite).toBeNull();
  });

  it('smoothing onto a masked class - KL is infinite, reported as the first non-finite row', () => {
    const d = diagnosed({ kind: 'logits', input: [[0, 0], [0, -Infinity]], labels: [0, 0], labelSmoothing: 0.1 });
    expect(d.rows.kl![1]).toBe(Infinity);
    expect(d.nonFinite).toEqual({ figure: 'kl', row: 1 });
    expect(Number.isFinite(d.state.kl![0])).toBe(true); // the state leaves the row out and stays JSON
  });

  it('logits of ±1e300 - q is exactly one-hot: the right class scores 0 everywhere, the wrong one the exact 2e300', () => {
    const d = diagnosed({ kind: 'logits', input: [[1e300, -1e300], [1e300, -1e300]], labels: [0, 1] });
    expect(rowsOf(d, 'probability')).toEqual([1, 0]);
    expect(rowsOf(d, 'entropy')).toEqual([0, 0]);
    expect(rowsOf(d, 'brier')).toEqual([0, 2]);
    expect(rowsOf(d, 'kl')).toEqual([0, 2e300]);
    expect(rowsOf(d, 'rank')).toEqual([1, 2]);
  });

  it('logits of ±1.5e308 - m − z overflows: KL is infinite where the loss is, the other figures are exact', () => {
    const d = diagnosed({ kind: 'logits', input: [[1.5e308, -1.5e308]], labels: [1] });
    expect(crossEntropyRows(taskOf({ kind: 'logits', input: [[1.5e308, -1.5e308]], labels: [1] })).losses[0]).toBe(Infinity);
    expect(d.rows.kl![0]).toBe(Infinity);
    expect(d.nonFinite).toEqual({ figure: 'kl', row: 0 });
    expect([d.rows.probability![0], d.rows.entropy![0], d.rows.brier![0], d.rows.rank![0]]).toEqual([0, 0, 2, 2]);
  });

  it('a common offset of 1e15 - the figures of the small differences, to the reference', () => {
    expectReference({ kind: 'logits', input: [[1e15, 1e15 + 0.125, 1e15 - 0.25], [1e15 + 0.5, 1e15, 1e15 + 0.375]], labels: [0, 2] });
  });

  it('ignore_index - ignored samples are NaN per row and count nowhere; all ignored gives null figures', () => {
    const d = diagnosed({ kind: 'logits', input: [[0, 0], [5, 1], [1, 5]], labels: [0, 99, 1], ignoreIndex: 99 });
    for (const f of ['probability', 'rank', 'entropy', 'kl', 'brier'] as const) expect(d.rows[f]![1]).toBeNaN();
    expect(d.state.count).toBe(2);
    expect(d.figures.calibration!.bins.reduce((n, b) => n + b.count, 0)).toBe(2);
    const none = diagnosed({ kind: 'logits', input: [[1, 2]], labels: [-100] });
    expect(none.figures).toEqual({
      mean_probability: null,
      mean_reciprocal_rank: null,
      top_k_accuracy: { '1': null, '5': null },
      mean_entropy: null,
      mean_kl: null,
      brier: null,
      calibration: { bins: none.figures.calibration!.bins, ece: null, mce: null },
    });
    expect(none.figures.calibration!.bins.every((b) => b.count === 0 && b.confidence === null && b.accuracy === null)).toBe(true);
  });

  it('class weights - play no part in any diagnostic', () => {
    const r: Request = { kind: 'logits', input: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 2], labelSmoothing: 0.1 };
    const a = diagnosed(r);
    const b = diagnosed({ ...r, classWeights: [0, 7, 0.5] });
    expect(b.rows).toEqual(a.rows);
    expect(b.state).toEqual(a.state);
  });

  it('a target of 1e200 - the Brier score overflows and is reported, KL stays finite', () => {
    const d = diagnosed({ kind: 'probabilities', input: [[0.5, 0.5]], targets: [[1e200, 0]] });
    expect(d.rows.brier![0]).toBe(Infinity);
    expect(d.nonFinite).toEqual({ figure: 'brier', row: 0 });
    expect(Number.isFinite(d.rows.kl![0])).toBe(true);
  });

  it('bits - mean entropy and KL are divided by ln 2, per-row figures stay in nats', () => {
    const d = diagnosed({ kind: 'logits', input: [[0, 0, 0, 0]], labels: [1], unit: 'bits' });
    expect(d.rows.entropy![0]).toBe(diagnosed({ kind: 'logits', input: [[0, 0, 0, 0]], labels: [1] }).rows.entropy![0]);
    expect(d.figures.mean_entropy).toBe(2);
    expect(d.figures.mean_kl).toBe(2);
  });

  it('only what is asked for - absent figures are neither computed nor reported', () => {
    const d = diagnosed({ kind: 'logits', input: [[0, 1]], labels: [0] }, { ...NONE, rank: true });
    expect(Object.keys(d.rows)).toEqual(['rank']);
    expect(d.figures).toEqual({ mean_reciprocal_rank: 0.5 });
    // top-k alone: ranks are computed but not reported per row; the ks sorted and made distinct
    const k = diagnosed({ kind: 'logits', input: [[0, 1, 2]], labels: [0] }, { ...NONE, topK: [5, 2, 2, 3] });
    expect(Object.keys(k.rows)).toEqual([]);
    expect(k.state.topK).toEqual([{ k: 2, hits: 0 }, { k: 3, hits: 1 }, { k: 5, hits: 1 }]);
  });

  it('a bad spec - top-k below 1 or not an integer, bins outside [1, 100] - is a RangeError', () => {
    const task = taskOf({ kind: 'logits', input: [[0, 1]], labels: [0] });
    expect(() => diagnose(task, { ...NONE, topK: [0] })).toThrow(RangeError);
    expect(() => diagnose(task, { ...NONE, topK: [1.5] })).toThrow(RangeError);
    expect(() => diagnose(task, { ...NONE, calibrationBins: 0 })).toThrow(RangeError);
    expect(() => diagnose(task, { ...NONE, calibrationBins: 101 })).toThrow(RangeError);
  });
});

describe('diagnostics - calibration', () => {
  it('a table computed by hand - 4 bins, 6 samples', () => {
    // confidence = max q, correct = arg-max (lowest index) is the label:
    //   [1/2, 1/2] y 0 → 0.5 in bin 1 (0.25, 0.5], correct;   [1/2, 1/2] y 1 → bin 1, wrong (arg-max is 0)
    //   [3/4, 1/4] y 0 → 0.75 in bin 2 (0.5, 0.75], correct;  [1/4, 3/4] y 0 → bin 2, wrong
    //   [1, 0] y 0 → 1 in bin 3, correct;                      [7/8, 1/8] y 0 → 0.875 in bin 3, correct
    // gaps |accuracy − confidence|: bin 1 |1/2 − 1/2| = 0, bin 2 |1/2 − 3/4| = 1/4, bin 3 |1 − 15/16| = 1/16
    // ECE = (2·0 + 2·1/4 + 2·1/16) / 6 = (5/8) / 6 = 5/48; MCE = 1/4.
    const d = diagnosed(
      {
        kind: 'probabilities',
        input: [[0.5, 0.5], [0.5, 0.5], [0.75, 0.25], [0.25, 0.75], [1, 0], [0.875, 0.125]],
        labels: [0, 1, 0, 0, 0, 0],
      },
      { ...NONE, calibrationBins: 4 },
    );
    expect(d.figures.calibration).toEqual({
      bins: [
        { lower: 0, upper: 0.25, count: 0, confidence: null, accuracy: null },
        { lower: 0.25, upper: 0.5, count: 2, confidence: 0.5, accuracy: 0.5 },
        { lower: 0.5, upper: 0.75, count: 2, confidence: 0.75, accuracy: 0.5 },
        { lower: 0.75, upper: 1, count: 2, confidence: 0.9375, accuracy: 1 },
      ],
      ece: 5 / 48,
      mce: 0.25,
    });
  });

  it('confidence equal to accuracy in every bin - ECE and MCE are exactly 0', () => {
    // 4 samples at confidence 3/4 with 3 right, 2 at 1/2 with 1 right.
    const d = diagnosed(
      {
        kind: 'probabilities',
        input: [[0.75, 0.25], [0.75, 0.25], [0.75, 0.25], [0.75, 0.25], [0.5, 0.5], [0.5, 0.5]],
        labels: [0, 0, 0, 1, 0, 1],
      },
      { ...NONE, calibrationBins: 10 },
    );
    expect(d.figures.calibration!.ece).toBe(0);
    expect(d.figures.calibration!.mce).toBe(0);
  });

  it('a confidence equal to a reported bound lands in the bin the bound closes', () => {
    // With 3 bins the bounds are the float64 values 1/3 and 2/3; a row of three float64 1/3 has confidence exactly
    // the reported 1/3, the upper bound of bin 0.
    const third = 1 / 3;
    const d = diagnosed({ kind: 'probabilities', input: [[third, third, third]], labels: [0] }, { ...NONE, calibrationBins: 3 });
    const bins = d.figures.calibration!.bins;
    expect(bins[0]!.upper).toBe(third);
    expect(bins.map((b) => b.count)).toEqual([1, 0, 0]);
    // one step above it is in bin 1
    const above = diagnosed({ kind: 'probabilities', input: [[third + 2 ** -54, 1 / 3, third - 2 ** -54]], labels: [0] }, { ...NONE, calibrationBins: 3 });
    expect(above.figures.calibration!.bins.map((b) => b.count)).toEqual([0, 1, 0]);
    // one bin holds everything
    const one = diagnosed({ kind: 'logits', input: [[0, 9], [4, 0]], labels: [0, 0] }, { ...NONE, calibrationBins: 1 });
    expect(one.figures.calibration!.bins).toHaveLength(1);
    expect(one.figures.calibration!.bins[0]!.count).toBe(2);
  });

  it('every bound is b/B as float64, from 0 to 1', () => {
    const d = diagnosed({ kind: 'logits', input: [[0, 1]], labels: [0] }, { ...NONE, calibrationBins: 100 });
    const bins = d.figures.calibration!.bins;
    expect(bins.map((b) => b.lower)).toEqual(Array.from({ length: 100 }, (_, b) => b / 100));
    expect(bins[99]!.upper).toBe(1);
  });
});

describe('diagnostics - exactness against the 50-digit reference', () => {
  it('random batches of logits and probabilities, labels and soft targets, smoothing and epsilon', () => {
    const random = prng(20_261_129);
    for (let n = 0; n < 40; n++) {
      const C = 2 + Math.floor(random() * 12);
      const kind = n % 2 === 0 ? 'logits' : 'probabilities';
      const input = Array.from({ length: 3 }, () => {
        const z = Array.from({ length: C }, () => (random() - 0.5) * 16);
        return kind === 'logits' ? z : normalised(z.map((x) => Math.exp(x)));
      });
      const soft = n % 4 >= 2;
      expectReference({
        kind,
        input,
        ...(soft
          ? { targets: input.map(() => normalised(Array.from({ length: C }, () => (random() < 0.3 ? 0 : random())))) }
          : { labels: input.map((_, i) => (i === 1 && n % 3 === 0 ? -100 : Math.floor(random() * C))) }),
        ...(n % 3 === 1 ? { labelSmoothing: 0.1 } : {}),
        ...(kind === 'probabilities' && n % 5 < 2 ? { epsilon: 1e-3 } : {}),
      });
    }
  });

  it('logits around 1e-300, far below the maximum, and masked', () => {
    expectReference({ kind: 'logits', input: [[1e-300, 0, -1e-300], [-1e5, -1e5 - 3, -2e5], [-745, 0, -700], [0, -Infinity, -40]], labels: [0, 1, 2, 0] });
  });

  it('tiny probabilities - 1e-300 and subnormal values', () => {
    expectReference({ kind: 'probabilities', input: [[1 - 2 ** -53, 2 ** -53, 0], [1e-300, 1 - 1e-300, 0], [0.5, 0.5 - 5e-324, 5e-324]], targets: [[0.5, 0.5, 0], [1e-300, 1 - 1e-300, 0], [0.25, 0.25, 0.5]] });
  });

  it('a confident right answer from logits - a Brier score of ~1e-20 keeps its digits (no 1 − q_y)', () => {
    // q_y = 1/(1 + e^−23), 1 − q_y ≈ 1e-10: Brier ≈ 2e-20, which (q_y − 1)² would get from a rounded 1 − q_y.
    const d = expectReference({ kind: 'logits', input: [[23, 0], [0, 23]], labels: [0, 1] });
    expect(d.rows.brier![0]).toBeGreaterThan(1e-20);
    const soft = expectReference({ kind: 'logits', input: [[23, 0, -1]], targets: [[1, 0, 0]] });
    expect(soft.rows.brier![0]).toBeGreaterThan(1e-20);
  });

  it('a prediction within 1e-9 of the target - KL of ~2e-17 keeps 12 digits for probabilities', () => {
    // t − q = (1, −3, 2)·2^−30, both summing to 1 exactly: KL ≈ Σ (t − q)²/(2q) = 2^−60·(1/0.5 + 9/0.5 + 4/1) = 24·2^−60.
    // The terms t·ln(t/q) are ~1e-9 each and cancel to that, which the generalised terms avoid.
    const q = [0.25, 0.25, 0.5];
    const t = [0.25 + 2 ** -30, 0.25 - 3 * 2 ** -30, 0.5 + 2 ** -29];
    const d = expectReference({ kind: 'probabilities', input: [q], targets: [t] });
    expect(close(d.rows.kl![0]!, 24 * 2 ** -60, 1e-8)).toBe(true);
  });

  it('logits within 1e-7 of their target - KL of ~6e-13 to ~1e-10 relative: the limit of q rounded to float64', () => {
    // t = softmax(z) in float64 moved by (1, −1, 2, −2)·1e-7: KL ≈ Σ (t − q)²/(2q) ≈ 6e-13. The kernel's q_c carry a
    // relative rounding of ~1 ulp, which moves KL by up to ~2^−52·Σ |t − q| ≈ 1e-22 absolute: ~1e-10 relative here.
    const z = [0.3, -1.2, 2.5, 0.1];
    const m = Math.max(...z);
    const e = z.map((x) => Math.exp(x - m));
    const q = e.map((x) => x / e.reduce((a, b) => a + b, 0));
    const t = q.map((x, c) => x + [1, -1, 2, -2][c]! * 1e-7);
    const r: ReferenceRequest = { kind: 'logits', input: [z], targets: [t] };
    const got = diagnose(taskOf(r), ALL).rows.kl![0]!;
    const want = referenceDiagnostics(r).rows[0]!;
    expect(want.kl.toNumber()).toBeGreaterThan(1e-13);
    expect(want.kl.toNumber()).toBeLessThan(1e-12);
    expect(exact(got).minus(want.kl).abs().toNumber()).toBeLessThanOrEqual(4 * ULP * want.sensitivity.kl);
    expect(relativeError(got, want.kl)).toBeLessThan(1e-7);
  });

  it('label smoothing over a vocabulary of 50 000 classes (repeated values, so the reference stays quick)', () => {
    const values = Array.from({ length: 16 }, (_, i) => Math.sin(i * 12.9898) * 6);
    const row = Array.from({ length: 50_000 }, (_, c) => values[(c * 7) % 16]!);
    const r: ReferenceRequest = { kind: 'logits', input: [row], labels: [12_345], labelSmoothing: 0.1 };
    const d = diagnose(taskOf(r), ALL);
    // reference: every class with the same logit has the same q and t′, so sum over the 16 values times counts
    const m = exact(Math.max(...values));
    const counts = values.map((_, i) => row.filter((_, c) => (c * 7) % 16 === i).length);
    let sum = new D(0);
    values.forEach((v, i) => (sum = sum.plus(exact(v).minus(m).exp().mul(counts[i]!))));
    const logZ = m.plus(sum.ln());
    const eps = exact(0.1);
    const spread = eps.div(50_000);
    const y = row[12_345]!;
    let kl = new D(0);
    let entropy = new D(0);
    values.forEach((v, i) => {
      const nl = logZ.minus(exact(v));
      const q = nl.neg().exp();
      entropy = entropy.plus(q.mul(nl).mul(counts[i]!));
      kl = kl.plus(spread.mul(spread.ln().plus(nl)).mul(counts[i]!));
    });
    const own = new D(1).minus(eps).plus(spread);
    const nly = logZ.minus(exact(y));
    kl = kl.minus(spread.mul(spread.ln().plus(nly))).plus(own.mul(own.ln().plus(nly)));
    expect(relativeError(d.rows.entropy![0]!, entropy)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(d.rows.kl![0]!, kl)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(d.rows.probability![0]!, nly.neg().exp())).toBeLessThanOrEqual(TOLERANCE);
  });

  it('batch means - within 1e-12 of the reference means', () => {
    const r: ReferenceRequest = {
      kind: 'logits',
      input: [[2, 1, 0.1], [0.5, 2.5, 0.3], [1, 1, 1], [-3, 40, 2]],
      labels: [0, 1, -100, 2],
      labelSmoothing: 0.1,
    };
    const { figures } = diagnosed(r);
    const ref = referenceDiagnostics(r).mean;
    expect(relativeError(figures.mean_probability!, ref.probability!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(figures.mean_reciprocal_rank!, ref.reciprocalRank!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(figures.mean_entropy!, ref.entropy!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(figures.mean_kl!, ref.kl!)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(figures.brier!, ref.brier!)).toBeLessThanOrEqual(TOLERANCE);
  });
});

// ---------------------------------------------------------------------------------------------------------------------


function normalised(xs: number[]): number[] {
  const total = xs.reduce((a, b) => a + b, 0);
  return total === 0 ? xs.map((_, i) => (i === 0 ? 1 : 0)) : xs.map((x) => x / total);
}

const shape = fc.record({ rows: fc.integer({ min: 1, max: 8 }), classes: fc.integer({ min: 1, max: 7 }) });

const probabilityRow = (classes: number) =>
  fc.array(fc.double({ min: 0.001, max: 1, noNaN: true }), { minLength: classes, maxLength: classes }).map(normalised);
const softRow = (classes: number) =>
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: classes, maxLength: classes }).map(normalised);

/** Any valid request over small shapes (class weights aside: they play no part). */
const anyRequest: fc.Arbitrary<ReferenceRequest> = shape.chain(({ rows, classes }) =>
  fc
    .record({
      kind: fc.constantFrom<'logits' | 'probabilities'>('logits', 'probabilities'),
      logits: fc.array(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: classes, maxLength: classes }), {
        minLength: rows,
        maxLength: rows,
      }),
      probabilities: fc.array(probabilityRow(classes), { minLength: rows, maxLength: rows }),
      truth: fc.constantFrom('labels', 'targets'),
      labels: fc.array(fc.oneof(fc.integer({ min: 0, max: classes - 1 }), fc.constant(-100)), { minLength: rows, maxLength: rows }),
      targets: fc.array(softRow(classes), { minLength: rows, maxLength: rows }),
      labelSmoothing: fc.option(fc.constantFrom(0.1, 0.5, 1, 0.0123), { nil: undefined }),
      epsilon: fc.option(fc.constantFrom(1e-7, 1e-3), { nil: undefined }),
    })
    .map((d) => ({
      kind: d.kind,
      input: d.kind === 'logits' ? d.logits : d.probabilities,
      ...(d.truth === 'labels' ? { labels: d.labels } : { targets: d.targets }),
      ...(d.labelSmoothing === undefined ? {} : { labelSmoothing: d.labelSmoothing }),
      ...(d.kind === 'probabilities' && d.epsilon !== undefined ? { epsilon: d.epsilon } : {}),
    })),
);

/** Figures equal: counts exactly, the rest within `ulps` ulps (relative). */
function expectSameFigures(a: DiagnosticsFigures, b: DiagnosticsFigures, ulps: number): void {
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (typeof x === 'number' && typeof y === 'number') {
      expect(close(x, y, ulps * ULP), `${path}: ${x} vs ${y}`).toBe(true);
    } else if (x !== null && typeof x === 'object') {
      expect(Object.keys(y as object), path).toEqual(Object.keys(x));
      for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${path}.${k}`);
    } else {
      expect(y, path).toBe(x);
    }
  };
  walk(a, b, 'figures');
}

describe('diagnostics - properties', () => {
  it('matches the 50-digit reference within 1e-12 on any valid request', () => {
    fc.assert(
      fc.property(anyRequest, (r) => {
        expectReference(r);
      }),
      { numRuns: 150 },
    );
  });

  it('cross-entropy is H(t′) + KL(t′‖q) per sample, without class weights', () => {
    fc.assert(
      fc.property(anyRequest, (r) => {
        const task = taskOf(r);
        const loss = crossEntropyRows(task).losses;
        const d = diagnose(task, { ...NONE, kl: true });
        const C = task.classes;
        const eps = r.labelSmoothing ?? 0;
        r.input.forEach((_, i) => {
          if (r.labels !== undefined && r.labels[i] === -100) return;
          // H(t′) of the smoothed target, directly
          const t = r.labels !== undefined ? Array.from({ length: C }, (_, c) => +(c === r.labels![i])) : r.targets![i]!;
          const entropy = t.reduce((h, tc) => {
            const s = (1 - eps) * tc + eps / C;
            return s === 0 ? h : h - s * Math.log(s);
          }, 0);
          const sum = entropy + d.rows.kl![i]!;
          if (!Number.isFinite(loss[i]!)) expect(d.rows.kl![i]).toBe(Infinity);
          else expect(Math.abs(sum - loss[i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, loss[i]!));
        });
      }),
    );
  });

  it('top-1 accuracy is at least the accuracy, equal when no row ties at its maximum', () => {
    fc.assert(
      fc.property(anyRequest, (r) => {
        const e = evaluate(taskOf(r));
        if (e.status !== 'ok') return;
        const top1 = diagnosed(r, { ...NONE, topK: [1] }).figures.top_k_accuracy!['1'];
        if (e.summary.accuracy === null) {
          expect(top1).toBeNull();
          return;
        }
        expect(top1!).toBeGreaterThanOrEqual(e.summary.accuracy);
        const ties = r.input.some((row) => row.filter((v) => v === Math.max(...row)).length > 1);
        if (!ties && r.kind === 'logits') expect(top1).toBe(e.summary.accuracy);
      }),
    );
  });

  it('a perfect one-hot prediction has Brier 0, a uniform one over C classes 1 − 1/C', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.double({ min: -1e6, max: 1e6, noNaN: true }), (C, y0, z) => {
        const y = y0 % C;
        const perfect = Array.from({ length: C }, (_, c) => (c === y ? 1 : 0));
        expect(diagnosed({ kind: 'probabilities', input: [perfect], labels: [y] }, { ...NONE, brier: true }).rows.brier![0]).toBe(0);
        const masked = Array.from({ length: C }, (_, c) => (c === y ? z : -Infinity));
        expect(diagnosed({ kind: 'logits', input: [masked], targets: [perfect] }, { ...NONE, brier: true }).rows.brier![0]).toBe(0);
        const uniform = diagnosed({ kind: 'logits', input: [Array.from({ length: C }, () => z)], labels: [y] }, { ...NONE, brier: true });
        expect(close(uniform.rows.brier![0]!, 1 - 1 / C, 2 * ULP)).toBe(true);
      }),
    );
  });

  it('permuting the samples leaves every batch figure unchanged', () => {
    fc.assert(
      fc.property(
        anyRequest.chain((r) => fc.tuple(fc.constant(r), fc.shuffledSubarray([...r.input.keys()], { minLength: r.input.length }))),
        ([r, order]) => {
          const permuted: ReferenceRequest = {
            ...r,
            input: order.map((i) => r.input[i]!),
            ...(r.labels === undefined ? {} : { labels: order.map((i) => r.labels![i]!) }),
            ...(r.targets === undefined ? {} : { targets: order.map((i) => r.targets![i]!) }),
          };
          const a = diagnosed(r);
          if (a.nonFinite !== null) return;
          expectSameFigures(a.figures, diagnosed(permuted).figures, 2);
        },
      ),
    );
  });

  it('permuting the classes (with labels and targets) leaves every figure unchanged, ranks where nothing ties', () => {
    fc.assert(
      fc.property(
        anyRequest.chain((r) => fc.tuple(fc.constant(r), fc.shuffledSubarray([...r.input[0]!.keys()], { minLength: r.input[0]!.length }))),
        ([r, perm]) => {
          // the true class and the arg-max move with a permutation only where a maximum ties
          const unique = (row: number[]) => row.filter((v) => v === Math.max(...row)).length === 1;
          if (!r.input.every(unique) || (r.targets !== undefined && !r.targets.every(unique))) return;
          const inverse: number[] = [];
          perm.forEach((old, j) => (inverse[old] = j));
          const permuted: ReferenceRequest = {
            ...r,
            input: r.input.map((row) => perm.map((old) => row[old]!)),
            ...(r.labels === undefined ? {} : { labels: r.labels.map((y) => (y < 0 ? y : inverse[y]!)) }),
            ...(r.targets === undefined ? {} : { targets: r.targets.map((row) => perm.map((old) => row[old]!)) }),
          };
          const a = diagnosed(r);
          const b = diagnosed(permuted);
          for (const f of ['probability', 'entropy', 'kl', 'brier'] as const) {
            a.rows[f]!.forEach((x, i) => expect(Number.isNaN(x) ? Number.isNaN(b.rows[f]![i]!) : close(b.rows[f]![i]!, x, 1e-13), `${f}[${i}]`).toBe(true));
          }
          expect([...b.rows.rank!]).toEqual([...a.rows.rank!]);
          if (a.nonFinite === null) expectSameFigures(a.figures, b.figures, 1e3); // sums over classes in another order
        },
      ),
    );
  });

  it('merging the states of any split, in any order, gives the one-pass figures within 2 ulp', () => {
    fc.assert(
      fc.property(
        anyRequest.chain((r) =>
          fc.tuple(
            fc.constant(r),
            fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, r.input.length - 1) }), { maxLength: r.input.length - 1 }),
            fc.infiniteStream(fc.nat()),
          ),
        ),
        ([r, cuts, picks]) => {
          const one = diagnosed(r);
          if (one.nonFinite !== null) return;
          const bounds = [0, ...cuts.filter((c) => c < r.input.length).sort((a, b) => a - b), r.input.length];
          let states: DiagnosticsState[] = [];
          for (let i = 0; i + 1 < bounds.length; i++) states.push(diagnose(taskOf(sliceRows(r, bounds[i]!, bounds[i + 1]!)), ALL).state);
          // merge random pairs until one is left, through JSON as another process would
          const it = picks[Symbol.iterator]();
          while (states.length > 1) {
            const i = it.next().value! % states.length;
            const [a] = states.splice(i, 1);
            const j = it.next().value! % states.length;
            states[j] = JSON.parse(JSON.stringify(mergeDiagnostics(states[j]!, a!))) as DiagnosticsState;
            states = [...states];
          }
          const merged = states[0]!;
          expect(merged.count).toBe(one.state.count);
          expect(merged.topK).toEqual(one.state.topK);
          expect(merged.calibration!.map((b) => [b.count, b.correct])).toEqual(one.state.calibration!.map((b) => [b.count, b.correct]));
          expectSameFigures(one.figures, diagnosticsFigures(merged, 'nats'), 2);
        },
      ),
    );
  });

  it('states of different specs do not merge', () => {
    const task = taskOf({ kind: 'logits', input: [[0, 1]], labels: [0] });
    const a = diagnose(task, ALL).state;
    expect(() => mergeDiagnostics(a, diagnose(task, { ...ALL, kl: false }).state)).toThrow(RangeError);
    expect(() => mergeDiagnostics(a, diagnose(task, { ...ALL, topK: [1, 3] }).state)).toThrow(RangeError);
    expect(() => mergeDiagnostics(a, diagnose(task, { ...ALL, calibrationBins: 10 }).state)).toThrow(RangeError);
  });
});

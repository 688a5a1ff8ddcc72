import { exp, sumExpShifted } from './exp.js';
import { addPairs, pairOf, quotient, type Pair } from './pair.js';
import { MIN_NORMAL, NonNegativeSum, twoSum } from './float64.js';
import type { ScoreTask, Unit } from './types.js';

export type { Pair } from './pair.js';

/** Which diagnostics to compute; `topK` and `calibrationBins` are null when not asked for. */
export interface DiagnosticsSpec {
  probability: boolean;
  rank: boolean;
  entropy: boolean;
  kl: boolean;
  brier: boolean;
  /** Integers ≥ 1, in any order, duplicates allowed (the state keeps them sorted and unique). */
  topK: readonly number[] | null;
  /** An integer in [1, MAX_CALIBRATION_BINS]. */
  calibrationBins: number | null;
}

export const MAX_CALIBRATION_BINS = 100;

/**
 * The running figures of a batch, plain JSON (finite numbers, arrays, objects), so that the states of many requests
 * can be merged exactly with `mergeDiagnostics`. A field is null when its figure was not asked for.
 */
export interface DiagnosticsState {
  /** Samples counted (ignored samples excluded): the denominator of every mean. */
  count: number;
  /** Σ q of the true class. */
  probability: Pair | null;
  /** Σ 1/rank. */
  reciprocalRank: Pair | null;
  /** For each k asked for, ascending: the samples whose rank is at most k. */
  topK: { k: number; hits: number }[] | null;
  /** Σ H(q), nats. */
  entropy: Pair | null;
  /** Σ KL(t′‖q), nats. */
  kl: Pair | null;
  /** Σ Brier score. */
  brier: Pair | null;
  /** Per confidence bin: samples, samples whose arg-max is the true class, Σ confidence. */
  calibration: { count: number; correct: number; confidence: Pair }[] | null;
}

/** Per-sample figures, NaN for ignored samples; entropy and kl in nats. Present only when asked for. */
export interface DiagnosticsRows {
  probability?: Float64Array;
  rank?: Float64Array;
  entropy?: Float64Array;
  kl?: Float64Array;
  brier?: Float64Array;
}

export interface Diagnostics {
  rows: DiagnosticsRows;
  state: DiagnosticsState;
  /**
   * The first sample whose KL divergence or Brier score is not finite (a target on a class of probability 0, a target
   * of 1e200), or row -1 when only a batch sum leaves the float64 range; null when every figure is finite. The state
   * leaves such samples out of its sums and must not be reported or merged.
   */
  nonFinite: { figure: 'kl' | 'brier'; row: number } | null;
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  confidence: number | null;
  accuracy: number | null;
}

/** The batch figures, with the API's names; a figure is present when asked for, null when no sample is counted. */
export interface DiagnosticsFigures {
  mean_probability?: number | null;
  mean_reciprocal_rank?: number | null;
  top_k_accuracy?: Record<string, number | null>;
  mean_entropy?: number | null;
  mean_kl?: number | null;
  brier?: number | null;
  calibration?: { bins: CalibrationBin[]; ece: number | null; mce: number | null };
}

/**
 * Evaluation diagnostics of a classifier, per sample and as a mergeable batch state, with the semantics of the
 * cross-entropy kernel (crossEntropy.ts): q = softmax(z) or clip(p, ε, 1 − ε); the true class y is the label or the
 * target's arg-max (lowest index on ties); ignored samples are skipped; class weights play no part. Expects a task that
 * passed `findInputProblems`. For each counted sample:
 *   probability  q_y
 *   rank         1 + #{c : score_c > score_y}, the score being the logit (not the rounded softmax) or the clipped
 *                probability
 *   entropy      H(q) = −Σ q_c ln q_c, nats
 *   kl           KL(t′‖q) = Σ t′_c ln(t′_c / q_c), nats, t′ = (1 − ε)·t + ε/C the smoothed target (a label one-hot)
 *   brier        Σ_c (q_c − t_c)², t the given target (a label one-hot)
 *   calibration  the confidence max_c q_c into bin b of B when b/B < confidence ≤ (b + 1)/B (0 into bin 0), by
 *                float64 comparisons with the reported bounds; correct when the arg-max (lowest index) is y.
 *
 * Method, for logits: with m = max z at index k, s = Σ_{c≠k} e_c and e_c = e^(z_c − m) (the same m, k and s as the loss,
 * s from `sumExpShifted`), q_c = e_c / (1 + s) and −ln q_c = (m − z_c) + log1p(s). Each e_c is e^x of the rounded
 * difference x = z_c − m times 1 + d, d the rounding error of x (TwoSum), so it is within ~1 ulp of e^(z_c − m) for the
 * exact difference. The figures are sums of non-negative terms, Neumaier-compensated, so their relative error is a
 * few ulps whatever C, except where the problem itself is ill-conditioned in q (below):
 *   probability  e_y / (1 + s), never exp(−loss), so a tiny q_y keeps its digits.
 *   entropy      log1p(s) + Σ_{c≠k} e_c·(m − z_c) / (1 + s), the shifted form of −Σ q ln q; e_c = 0 (a masked class,
 *                an underflow) adds 0.
 *   brier        labels: (Σ_{c≠y} e_c² + (Σ_{c≠y} e_c)²) / (1 + s)², with Σ_{c≠y} e_c = s (y = k) or 1 + (s − e_y):
 *                1 − q_y is never formed by cancellation, so a confident right answer keeps its score of 1e-20.
 *                Soft targets: Σ (q_c − t_c)², the arg-max term as (1 − t_k) − s/(1 + s) when q_k > 1/2 and t_k ∈
 *                [1/2, 2] (so a one-hot target is as good as a label).
 *   kl           Σ_c g_c + (Σ t′ − Σ q) with g_c = t′ ln(t′/q) − t′ + q ≥ 0, the terms of the generalised divergence,
 *                = q·φ(u), u = (t′ − q)/q, φ(u) = (1 + u)·log1p(u) − u. Σ q = 1 (logits) and Σ t′ = 1 (labels) are
 *                used exactly, so nothing cancels across terms. For |u| < 1/8, t′ − q is exact (Sterbenz) and φ is
 *                its Taylor series; elsewhere t′·ln r − (t′ − q) cancels at most ~18-fold. A label without smoothing
 *                gives the loss, (m − z_y) + log1p(s).
 * Conditioning: a relative rounding δ_c of the q_c moves KL by Σ (q_c − t′_c)·δ_c and Brier by Σ 2q_c(q_c − t_c)·δ_c,
 * so where the prediction matches its target closely these two are only good to ~2^−52·Σ|t′ − q| (resp.
 * 2^−51·Σ q|q − t|) absolute: a KL of 1e-12 from logits has ~4 fewer digits (relative error ~3e-16/√KL). The same holds
 * for KL with label smoothing, through the rounding of t′ = (1 − ε)·t + ε/C, and an ε/C below the normal range (ε <
 * 2.2e-308·C) enters KL as the rounded subnormal (the loss rescales it; here only a divergence carried by those terms
 * alone, e.g. a perfect prediction with masked classes, would notice).
 * For probabilities the same sums run over the clipped values (entropy −Σ q ln q with 0·ln 0 = 0). q is exact, so KL
 * without smoothing and the Brier score keep a few ulps however close the prediction; Σ q and Σ t enter KL
 * compensated, so a row that sums to 1 ± 1e-4 gets the divergence of exactly the values given.
 *
 * Batch sums are Neumaier sums left as (high, low) pairs, so merged states give the one-pass figures to within an ulp
 * of the final division. Allocates the per-sample arrays asked for and nothing per sample (a row's e_c go to a
 * module-level buffer). Cost at 8 × 50257 logits: probability, rank and calibration ~1× the loss pass (an arg-max,
 * the sum of exponentials, a comparison pass); entropy and Brier a JavaScript pass of exponentials, ~2× the
 * WebAssembly one the loss uses; KL with smoothing or soft targets one more pass with a logarithm per class where
 * needed (test/kernel/diagnostics.bench.mjs).
 */
export function diagnose(task: ScoreTask, spec: DiagnosticsSpec): Diagnostics {
  const ks = topKOf(spec.topK);
  const bins = binsOf(spec.calibrationBins);
  const { rows, classes, labels, ignoreIndex } = task;
  const needRank = spec.rank || ks !== null;
  const needs: Needs = {
    rank: needRank,
    entropy: spec.entropy,
    kl: spec.kl,
    brier: spec.brier,
    // the sums of exponentials, for everything but the rank
    softmax: spec.probability || spec.entropy || spec.kl || spec.brier || bins !== null,
    scratch: task.kind === 'logits' && (spec.kl || spec.brier) ? scratchOf(classes) : null,
  };

  const out: DiagnosticsRows = {};
  if (spec.probability) out.probability = new Float64Array(rows);
  if (spec.rank) out.rank = new Float64Array(rows);
  if (spec.entropy) out.entropy = new Float64Array(rows);
  if (spec.kl) out.kl = new Float64Array(rows);
  if (spec.brier) out.brier = new Float64Array(rows);

  const sums = new Float64Array(2 * SUMS); // Neumaier (s, e) per batch sum
  const hits = ks === null ? null : new Array<number>(ks.length).fill(0);
  const binCount = bins === null ? null : new Array<number>(bins).fill(0);
  const binCorrect = bins === null ? null : new Array<number>(bins).fill(0);
  const binConfidence = bins === null ? null : new Float64Array(2 * bins);
  const bounds = bins === null ? null : boundsOf(bins);

  const row = new RowFigures();
  let count = 0;
  let nonFinite: Diagnostics['nonFinite'] = null;

  for (let r = 0; r < rows; r++) {
    if (labels !== null && labels[r] === ignoreIndex) {
      if (out.probability !== undefined) out.probability[r] = NaN;
      if (out.rank !== undefined) out.rank[r] = NaN;
      if (out.entropy !== undefined) out.entropy[r] = NaN;
      if (out.kl !== undefined) out.kl[r] = NaN;
      if (out.brier !== undefined) out.brier[r] = NaN;
      continue;
    }
    if (task.kind === 'logits') logitsRow(task, r, needs, row);
    else probabilitiesRow(task, r, needs, row);
    count++;

    if (out.probability !== undefined) out.probability[r] = row.probability;
    if (out.rank !== undefined) out.rank[r] = row.rank;
    if (out.entropy !== undefined) out.entropy[r] = row.entropy;
    if (out.kl !== undefined) out.kl[r] = row.kl;
    if (out.brier !== undefined) out.brier[r] = row.brier;

    if (spec.probability) add(sums, PROBABILITY, row.probability);
    if (spec.rank) add(sums, RECIPROCAL_RANK, 1 / row.rank);
    if (hits !== null) for (let i = 0; i < ks!.length; i++) if (row.rank <= ks![i]!) hits[i]!++;
    if (spec.entropy) add(sums, ENTROPY, row.entropy);
    if (spec.kl) {
      if (Number.isFinite(row.kl)) add(sums, KL, row.kl);
      else nonFinite ??= { figure: 'kl', row: r };
    }
    if (spec.brier) {
      if (Number.isFinite(row.brier)) add(sums, BRIER, row.brier);
      else nonFinite ??= { figure: 'brier', row: r };
    }
    if (bounds !== null) {
      const b = binOf(row.confidence, bounds);
      binCount![b]!++;
      if (row.correct) binCorrect![b]!++;
      add(binConfidence!, b, row.confidence);
    }
  }

  const pair = (i: number, used: boolean): Pair | null => (used ? pairAt(sums, i) : null);
  const state: DiagnosticsState = {
    count,
    probability: pair(PROBABILITY, spec.probability),
    reciprocalRank: pair(RECIPROCAL_RANK, spec.rank),
    topK: ks === null ? null : ks.map((k, i) => ({ k, hits: hits![i]! })),
    entropy: pair(ENTROPY, spec.entropy),
    kl: pair(KL, spec.kl),
    brier: pair(BRIER, spec.brier),
    calibration:
      bins === null
        ? null
        : binCount!.map((n, b) => ({ count: n, correct: binCorrect![b]!, confidence: pairAt(binConfidence!, b) })),
  };
  if (nonFinite === null && ((state.kl !== null && !Number.isFinite(state.kl[0])) || (state.brier !== null && !Number.isFinite(state.brier[0])))) {
    nonFinite = { figure: state.kl !== null && !Number.isFinite(state.kl[0]) ? 'kl' : 'brier', row: -1 };
  }
  return { rows: out, state, nonFinite };
}

/**
 * The sum of two states of the same spec (same figures, ks and bins): counts added, pairs added in double-double
 * arithmetic, so that any split of a batch, merged in any order, gives the one-pass figures to within an ulp or two.
 */
export function mergeDiagnostics(a: DiagnosticsState, b: DiagnosticsState): DiagnosticsState {
  const both = <T>(x: T | null, y: T | null, name: string): x is T => {
    if ((x === null) !== (y === null)) throw new RangeError(`mergeDiagnostics: ${name} is in one state only`);
    return x !== null;
  };
  const merged = (x: Pair | null, y: Pair | null, name: string): Pair | null => (both(x, y, name) ? addPairs(x, y!) : null);
  let topK: DiagnosticsState['topK'] = null;
  if (both(a.topK, b.topK, 'topK')) {
    const other = b.topK!;
    if (a.topK.length !== other.length || a.topK.some((x, i) => x.k !== other[i]!.k)) {
      throw new RangeError('mergeDiagnostics: the states have different top-k lists');
    }
    topK = a.topK.map((x, i) => ({ k: x.k, hits: x.hits + other[i]!.hits }));
  }
  let calibration: DiagnosticsState['calibration'] = null;
  if (both(a.calibration, b.calibration, 'calibration')) {
    const other = b.calibration!;
    if (a.calibration.length !== other.length) throw new RangeError('mergeDiagnostics: the states have different bins');
    calibration = a.calibration.map((x, i) => ({
      count: x.count + other[i]!.count,
      correct: x.correct + other[i]!.correct,
      confidence: addPairs(x.confidence, other[i]!.confidence),
    }));
  }
  return {
    count: a.count + b.count,
    probability: merged(a.probability, b.probability, 'probability'),
    reciprocalRank: merged(a.reciprocalRank, b.reciprocalRank, 'reciprocalRank'),
    topK,
    entropy: merged(a.entropy, b.entropy, 'entropy'),
    kl: merged(a.kl, b.kl, 'kl'),
    brier: merged(a.brier, b.brier, 'brier'),
    calibration,
  };
}

/**
 * The batch figures of a state: means over the counted samples (the double-double sum divided by the count, one
 * rounding), entropy and KL divided by ln 2 in bits; ece = Σ_b |correct_b − Σ confidence_b| / n and mce the largest
 * |accuracy_b − confidence_b| over non-empty bins, each difference formed from the exact count and the pair.
 */
export function diagnosticsFigures(state: DiagnosticsState, unit: Unit): DiagnosticsFigures {
  const n = state.count;
  const mean = (p: Pair): number | null => (n > 0 ? quotient(p, n) : null);
  const inUnit = (x: number | null): number | null => (x === null || unit === 'nats' ? x : x / Math.LN2);
  const figures: DiagnosticsFigures = {};
  if (state.probability !== null) figures.mean_probability = mean(state.probability);
  if (state.reciprocalRank !== null) figures.mean_reciprocal_rank = mean(state.reciprocalRank);
  if (state.topK !== null) {
    figures.top_k_accuracy = Object.fromEntries(state.topK.map(({ k, hits }) => [String(k), n > 0 ? hits / n : null]));
  }
  if (state.entropy !== null) figures.mean_entropy = inUnit(mean(state.entropy));
  if (state.kl !== null) figures.mean_kl = inUnit(mean(state.kl));
  if (state.brier !== null) figures.brier = mean(state.brier);
  if (state.calibration !== null) {
    const bounds = boundsOf(state.calibration.length);
    const gaps = new NonNegativeSum();
    let mce: number | null = null;
    const bins = state.calibration.map(({ count, correct, confidence }, b): CalibrationBin => {
      const bin = { lower: bounds[b]!, upper: bounds[b + 1]!, count, confidence: null, accuracy: null };
      if (count === 0) return bin;
      // |correct − Σ confidence|, from the exact integer and the pair
      const [d, e] = twoSum(correct, -confidence[0]);
      const gap = Math.abs(d + (e - confidence[1]));
      gaps.add(gap);
      const g = gap / count;
      if (mce === null || g > mce) mce = g;
      return { ...bin, confidence: quotient(confidence, count), accuracy: correct / count };
    });
    figures.calibration = { bins, ece: n > 0 ? gaps.value / n : null, mce };
  }
  return figures;
}

/** What the row functions compute. */
interface Needs {
  rank: boolean;
  entropy: boolean;
  kl: boolean;
  brier: boolean;
  softmax: boolean;
  /** Room for a row's e_c (logits), when soft-target Brier scores or KL divergences need them after the first pass. */
  scratch: Float64Array | null;
}

/** One sample's figures, reused from row to row. */
class RowFigures {
  probability = 0;
  rank = 0;
  entropy = 0;
  kl = 0;
  brier = 0;
  confidence = 0;
  correct = false;
}

/** Indices of the batch sums in the Neumaier array (bins use their own). */
const PROBABILITY = 0;
const RECIPROCAL_RANK = 1;
const ENTROPY = 2;
const KL = 3;
const BRIER = 4;
const SUMS = 5;

/** The true class of a counted sample: its label, or its target's arg-max (lowest index on ties). */
function trueClassOf(task: ScoreTask, base: number, r: number): number {
  if (task.labels !== null) return task.labels[r]!;
  const t = task.targets!;
  let y = 0;
  let best = t[base]!;
  for (let c = 1; c < task.classes; c++) {
    if (t[base + c]! > best) {
      best = t[base + c]!;
      y = c;
    }
  }
  return y;
}

/** The figures of row r of logits (see `diagnose` for the method). */
function logitsRow(task: ScoreTask, r: number, needs: Needs, out: RowFigures): void {
  const { classes, input, labels, targets } = task;
  const base = r * classes;
  const y = trueClassOf(task, base, r);
  const k = argmaxOf(input, base, classes);
  const m = input[base + k]!;
  const zy = input[base + y]!;
  const s = needs.softmax ? sumExpShifted(input, base, classes, m, k) : 0;
  const S = 1 + s;
  const lse1p = Math.log1p(s);
  const ey = y === k ? 1 : expShifted(zy, m);
  out.probability = ey / S;
  out.confidence = 1 / S;
  out.correct = y === k;
  out.rank = needs.rank ? 1 + countAbove(input, base, classes, zy) : 0;

  const smoothing = task.labelSmoothing;
  const keep = 1 - smoothing;
  const spread = smoothing / classes;
  // KL needs every class unless the target is a plain label: then it is the loss, (m − z_y) + log1p(s).
  const klByClass = needs.kl && (targets !== null || smoothing > 0);
  // e_c kept for the loops over q_c (soft-target Brier, KL)
  const e = klByClass || (needs.brier && targets !== null) ? needs.scratch : null;
  if (needs.entropy || needs.brier || klByClass) softmaxMoments(input, base, classes, m, k, y, e);
  out.entropy = lse1p + MOMENTS[0]! / S;
  if (needs.brier) {
    if (labels !== null) {
      // Σ_{c≠y} e_c without cancellation (e_k = 1, s = Σ_{c≠k} e_c)
      const rest = y === k ? s : 1 + (s - ey);
      out.brier = (MOMENTS[1]! + rest * rest) / (S * S);
    } else {
      out.brier = brierOfTerms(e!, S, s, k, targets!, base, classes);
    }
  }
  if (needs.kl) {
    if (!klByClass) out.kl = m - zy + lse1p;
    else {
      const g = klOfLogits(e!, S, input, base, classes, m, lse1p, targets, y, keep, spread);
      // Σ t′ − Σ q = (1 − ε)·(Σ t − 1), 0 for a label
      out.kl = targets === null ? g : g + keep * (sumOf(targets, base, classes) - 1 + MOMENTS[2]!);
    }
  }
}

/** The figures of row r of probabilities, clipped to [ε, 1 − ε] as the loss clips them. */
function probabilitiesRow(task: ScoreTask, r: number, needs: Needs, out: RowFigures): void {
  const { classes, input, targets } = task;
  const base = r * classes;
  const y = trueClassOf(task, base, r);
  const low = task.epsilon;
  const high = 1 - task.epsilon;
  const k = argmaxOf(input, base, classes);
  const qy = clip(input[base + y]!, low, high);
  out.probability = qy;
  out.confidence = clip(input[base + k]!, low, high);
  out.correct = y === k;
  out.rank = needs.rank ? 1 + countAboveClipped(input, base, classes, low, high, qy) : 0;
  if (needs.entropy) out.entropy = entropyOfProbabilities(input, base, classes, low, high);
  if (needs.brier) out.brier = brierOfProbabilities(input, base, classes, low, high, targets, y);
  if (needs.kl) {
    const smoothing = task.labelSmoothing;
    if (targets === null && smoothing === 0) {
      out.kl = -Math.log(qy);
    } else {
      const keep = 1 - smoothing;
      const g = klOfProbabilities(input, base, classes, low, high, targets, y, keep, smoothing / classes);
      // Σ t′ − Σ q = (1 − ε)·(Σ t − 1) + (1 − Σ q), Σ t = 1 for a label
      const q = sumOfClipped(input, base, classes, low, high);
      const oneMinusQ = 1 - q - MOMENTS[2]!;
      out.kl = targets === null ? g + oneMinusQ : g + (keep * (sumOf(targets, base, classes) - 1 + MOMENTS[2]!) + oneMinusQ);
    }
  }
}

/*
 * The loops over the classes of a row, each a small function with one loop: V8 compiles them on their own (on-stack
 * replacement within a long row, then as whole functions), and code after a long loop in a large function would run
 * without type feedback and deoptimise on every call. Extra results go through MOMENTS.
 */

/**
 * The room for a row's e_c, kept from call to call and grown to the widest row seen (2 MB for 250 000 classes): a
 * fresh array per call would be a large-object allocation, and collecting them costs ~15 % at 8 × 50257.
 */
let scratch = new Float64Array(0);

function scratchOf(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

/** Extra results of the loops below: [0], [1] from softmaxMoments; [2] the low part of sumOf / sumOfClipped. */
const MOMENTS = new Float64Array(3);
/** Accumulators reused by every row (the kernel is synchronous); each sums non-negative terms, as NonNegativeSum needs. */
const SUM_A = new NonNegativeSum();
const SUM_B = new NonNegativeSum();

/** The index of the row's maximum, the lowest on ties (as the loss and `accuracy`). */
function argmaxOf(x: Float64Array, base: number, n: number): number {
  let k = 0;
  let best = x[base]!;
  for (let c = 1; c < n; c++) {
    const v = x[base + c]!;
    if (v > best) {
      best = v;
      k = c;
    }
  }
  return k;
}

/** #{c : x_c > v}; counted without a branch (a random comparison mispredicts half the time). */
function countAbove(x: Float64Array, base: number, n: number, v: number): number {
  let above = 0;
  for (let c = 0; c < n; c++) above += +(x[base + c]! > v);
  return above;
}

/** #{c : clip(x_c) > v}. */
function countAboveClipped(x: Float64Array, base: number, n: number, low: number, high: number, v: number): number {
  let above = 0;
  for (let c = 0; c < n; c++) above += +(clip(x[base + c]!, low, high) > v);
  return above;
}

/**
 * One pass of e_c = e^(z_c − m) over a row of logits (e_k = 1), stored in `e` when given: MOMENTS[0] = Σ_{c≠k} e_c·(m − z_c)
 * (the entropy's sum; masked classes add 0) and MOMENTS[1] = Σ_{c≠y} e_c² (the Brier score's), both Neumaier sums of
 * non-negative terms.
 */
function softmaxMoments(z: Float64Array, base: number, n: number, m: number, k: number, y: number, e: Float64Array | null): void {
  const a = SUM_A.reset();
  const b = SUM_B.reset();
  for (let c = 0; c < n; c++) {
    const zc = z[base + c]!;
    let ec = 1;
    if (c !== k) {
      ec = expShifted(zc, m);
      if (ec > 0) a.add(ec * (m - zc));
    }
    if (e !== null) e[c] = ec;
    if (c !== y) b.add(ec * ec);
  }
  MOMENTS[0] = a.value;
  MOMENTS[1] = b.value;
}

/**
 * Σ_c (q_c − t_c)² with q_c = e_c / S for soft targets; the arg-max term as (1 − t_k) − s/S when q_k > 1/2 and
 * t_k ∈ [1/2, 2], so that a confident prediction of a one-hot target is not lost to 1 − q_k.
 */
function brierOfTerms(e: Float64Array, S: number, s: number, k: number, t: Float64Array, base: number, n: number): number {
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) {
    const tc = t[base + c]!;
    const d = c === k && s < 1 && tc >= 0.5 && tc <= 2 ? 1 - tc - s / S : e[c]! / S - tc;
    sum.add(d * d);
  }
  return totalOf(sum.high, sum.low);
}

/** Σ_c g(t′_c, q_c) over a row of logits, q_c = e_c / S and −ln q_c = (m − z_c) + log1p(s) for the terms that need it. */
function klOfLogits(
  e: Float64Array,
  S: number,
  z: Float64Array,
  base: number,
  n: number,
  m: number,
  lse1p: number,
  t: Float64Array | null,
  y: number,
  keep: number,
  spread: number,
): number {
  const own = keep + spread; // t′_y of a smoothed label
  const lnOwn = Math.log(own);
  const lnSpread = Math.log(spread);
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) {
    const share = t === null ? (c === y ? own : spread) : keep * t[base + c]! + spread;
    const lnt = t === null ? (c === y ? lnOwn : lnSpread) : NaN;
    sum.add(klTerm(share, e[c]! / S, m - z[base + c]! + lse1p, lnt));
  }
  return totalOf(sum.high, sum.low);
}

/** Σ_c −q_c ln q_c over the clipped probabilities (0·ln 0 = 0). */
function entropyOfProbabilities(p: Float64Array, base: number, n: number, low: number, high: number): number {
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) {
    const q = clip(p[base + c]!, low, high);
    if (q !== 0) sum.add(q * -Math.log(q));
  }
  return sum.value;
}

/** Σ_c (q_c − t_c)² over the clipped probabilities, t one-hot at y when there are no targets. */
function brierOfProbabilities(p: Float64Array, base: number, n: number, low: number, high: number, t: Float64Array | null, y: number): number {
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) {
    const d = clip(p[base + c]!, low, high) - (t === null ? +(c === y) : t[base + c]!);
    sum.add(d * d);
  }
  return totalOf(sum.high, sum.low);
}

/** Σ_c g(t′_c, q_c) over the clipped probabilities. */
function klOfProbabilities(
  p: Float64Array,
  base: number,
  n: number,
  low: number,
  high: number,
  t: Float64Array | null,
  y: number,
  keep: number,
  spread: number,
): number {
  const own = keep + spread;
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) {
    const share = t === null ? (c === y ? own : spread) : keep * t[base + c]! + spread;
    sum.add(klTerm(share, clip(p[base + c]!, low, high), NaN, NaN));
  }
  return totalOf(sum.high, sum.low);
}

/** Σ_c x_c (non-negative), Neumaier: the high part returned, the low part in MOMENTS[2]. */
function sumOf(x: Float64Array, base: number, n: number): number {
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) sum.add(x[base + c]!);
  MOMENTS[2] = sum.low;
  return sum.high;
}

/** Σ_c clip(x_c), as sumOf. */
function sumOfClipped(x: Float64Array, base: number, n: number, low: number, high: number): number {
  const sum = SUM_A.reset();
  for (let c = 0; c < n; c++) sum.add(clip(x[base + c]!, low, high));
  MOMENTS[2] = sum.low;
  return sum.high;
}

/**
 * g = t·ln(t/q) − t + q ≥ 0, the term of the generalised KL divergence, for t, q ≥ 0 (0·ln 0 = 0; t > 0 on q = 0 is
 * Infinity). `nl` is −ln q and `lnt` ln t when the caller has them (logits: nl = (m − z_c) + log1p(s), exact even where
 * q underflows; a label's two shares), else NaN. Near r = t/q = 1 the Taylor series; far from it (|ln r| ≥ 1) lnt + nl
 * when that sum loses at most 6 bits, which spares a logarithm per class; otherwise ln r, or ln t − ln q where r or q
 * leaves the normal range.
 */
function klTerm(t: number, q: number, nl: number, lnt: number): number {
  if (t === 0) return q;
  const diff = t - q; // exact when |t − q| < q/8 (Sterbenz)
  if (q > 0 && Math.abs(diff) < q * 0.125) {
    const u = diff / q;
    return q * u * u * phiSeries(u);
  }
  if (lnt === lnt && nl === nl) {
    const lnr = lnt + nl;
    const size = Math.abs(lnr);
    if (size >= 1 && Math.abs(lnt) + nl <= 64 * size) return t * lnr - diff;
  }
  const r = t / q;
  if (q >= MIN_NORMAL && r >= MIN_NORMAL && r < Infinity) return t * Math.log(r) - diff;
  return t * ((lnt === lnt ? lnt : Math.log(t)) + (nl === nl ? nl : -Math.log(q))) - diff;
}

/**
 * φ(u)/u² for |u| < 1/8, φ(u) = (1 + u)·log1p(u) − u = Σ_{n≥2} (−u)^n / (n(n − 1)): 16 terms, truncation error below
 * 2^−55 relative (the next term is 2·8^−16/306 of the first).
 */
function phiSeries(u: number): number {
  const v = -u;
  let p = PHI[15]!;
  for (let j = 14; j >= 0; j--) p = PHI[j]! + v * p;
  return p;
}

/** PHI[j] = 1/((j + 1)(j + 2)). */
const PHI = Float64Array.from({ length: 16 }, (_, j) => 1 / ((j + 1) * (j + 2)));

/**
 * e^(z − m) for the exact difference: e^x of the rounded x = z − m, times 1 + d with d the rounding error of x
 * (TwoSum), as exp.ts's sums do. 0 for a masked class or an underflow.
 */
function expShifted(z: number, m: number): number {
  const x = z - m;
  const y = exp(x);
  if (y === 0) return 0;
  const b = x - z;
  return y + y * (z - (x - b) + (-m - b));
}

/** A Neumaier sum's value; an infinite term makes the compensation NaN, so then the running sum itself. */
function totalOf(s: number, e: number): number {
  return Number.isFinite(s) ? s + e : s;
}

/**
 * numpy.clip: minimum(maximum(p, low), high), as the loss clips (the same values for the validated p ≥ 0 the kernel
 * sees); Math.min and Math.max compile to branch-free instructions, which keeps the rank's comparison branch-free too.
 */
function clip(p: number, low: number, high: number): number {
  return Math.min(Math.max(p, low), high);
}

/** Adds x to the Neumaier sum (s, e) held at sums[2i], sums[2i + 1] (any sign). */
function add(sums: Float64Array, i: number, x: number): void {
  const s = sums[2 * i]!;
  const t = s + x;
  sums[2 * i + 1] = sums[2 * i + 1]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
  sums[2 * i] = t;
}

/** The Neumaier sum at i as a normalised pair. */
function pairAt(sums: Float64Array, i: number): Pair {
  return pairOf(sums[2 * i]!, sums[2 * i + 1]!);
}

/** The sorted, distinct ks, each checked to be an integer ≥ 1. */
function topKOf(topK: readonly number[] | null): number[] | null {
  if (topK === null) return null;
  for (const k of topK) if (!(Number.isSafeInteger(k) && k >= 1)) throw new RangeError(`diagnose: top-k ${k} is not an integer ≥ 1`);
  return [...new Set(topK)].sort((a, b) => a - b);
}

function binsOf(bins: number | null): number | null {
  if (bins !== null && !(Number.isInteger(bins) && bins >= 1 && bins <= MAX_CALIBRATION_BINS)) {
    throw new RangeError(`diagnose: ${bins} calibration bins, expected an integer in [1, ${MAX_CALIBRATION_BINS}]`);
  }
  return bins;
}

/** The bin bounds b/B for b = 0..B, as reported (each the float64 nearest to b/B, so strictly increasing). */
function boundsOf(bins: number): Float64Array {
  return Float64Array.from({ length: bins + 1 }, (_, b) => b / bins);
}

/** The bin b with bounds[b] < x ≤ bounds[b + 1], bin 0 also holding x ≤ bounds[0]: a guess, settled by comparisons. */
function binOf(x: number, bounds: Float64Array): number {
  const bins = bounds.length - 1;
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(x * bins) - 1));
  while (b > 0 && x <= bounds[b]!) b--;
  while (b < bins - 1 && x > bounds[b + 1]!) b++;
  return b;
}

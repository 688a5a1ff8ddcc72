import { sumExpShifted } from './exp.js';
import { MIN_NORMAL, NonNegativeSum, twoSum } from './float64.js';
import { productOf, weighted } from './product.js';
import type { RowLosses, ScoreTask } from './types.js';

/**
 * Per-sample categorical cross-entropy in nats, with PyTorch's semantics (`cross_entropy` for logits,
 * `nll_loss(log p)` for probabilities; class weights, ignore_index, label smoothing), computed in float64 so that
 * every result is within a few ulps of the exact value. Expects a task that passed `findInputProblems`.
 *
 * Method. For a row of logits z with maximum m at index k (the lowest index on ties), write
 *   s = Σ_{c≠k} exp(z_c − m),   logsumexp(z) = m + log1p(s),   nl_c = logsumexp(z) − z_c = (m − z_c) + log1p(s).
 * Both terms of nl_c are non-negative, so nothing cancels: a common offset of 1e15 or logits of ±1e300 keep full
 * relative precision, and when the label is the arg-max nl_k = log1p(s) keeps a loss of 1e-18 that
 * `log(sum(exp(z − m))) − (z_k − m)` rounds to 0. Every loss is then a sum of non-negative terms, so its relative
 * error is bounded by a few ulps; the sums over classes and over the batch use Neumaier's compensated summation
 * (Neumaier 1974, as in stdlib-js gsumkbn) so the bound does not grow with C or N.
 * For probabilities nl_c = −ln(clip(p_c, ε, 1 − ε)), clipped in float64 as numpy.clip does; with `renormalize`, of
 * p_c / Σ_c p_c (Keras's order: divide, then clip). A sample weight s_i multiplies the sample's loss and its share of
 * the total weight (scikit-learn's and Keras's sample_weight).
 *
 * A term whose coefficient is 0 (a zero target, weight or smoothing share) contributes 0 even where nl_c is
 * infinite: PyTorch would give NaN there, which is never a useful answer.
 */
export function crossEntropyRows(task: ScoreTask): RowLosses {
  const { rows, classes, input, labels, targets, classWeights, sampleWeights, ignoreIndex } = task;
  const isLogits = task.kind === 'logits';
  const renormalize = !isLogits && task.renormalize;
  const labelSmoothing = task.labelSmoothing;
  const keep = 1 - labelSmoothing; // share of the given label or target
  const perClass = 1 / classes;
  const spread = labelSmoothing / classes; // share spread evenly over every class (below the normal range: productOf)
  const smoothing = labelSmoothing > 0;
  const tinySpread = smoothing && spread < MIN_NORMAL; // then applied once per row, scaled (productOf)
  const low = task.epsilon;
  const high = 1 - task.epsilon;

  // Σ_c w_c, for the smoothing term of logits: Σ_c w_c·nl_c = Σ_c w_c·(m − z_c) + log1p(s)·Σ_c w_c.
  // Every sum below is of non-negative terms (losses, weights, w_c·nl_c), as NonNegativeSum requires.
  const sum = new NonNegativeSum();
  const rowSum = new NonNegativeSum();
  const tinySum = new NonNegativeSum();
  const totalWeight = new NonNegativeSum();
  const rowTotal = new NonNegativeSum();
  let weightSum = classes;
  if (classWeights !== null) {
    for (let c = 0; c < classes; c++) rowSum.add(classWeights[c]!);
    weightSum = rowSum.value;
  }

  const losses = new Float64Array(rows);
  let count = 0;
  let correct = 0;
  let nonFiniteRow = -1;

  for (let r = 0; r < rows; r++) {
    const base = r * classes;

    let m = input[base]!;
    let k = 0;
    for (let c = 1; c < classes; c++) {
      const v = input[base + c]!;
      if (v > m) {
        m = v;
        k = c;
      }
    }

    // log1p(Σ_{c≠k} exp(z_c − m)): the arg-max term, exactly 1, is left out of the sum and added by log1p.
    const lse1p = isLogits ? Math.log1p(sumExpShifted(input, base, classes, m, k)) : 0;
    // The row's sum S as an unevaluated pair, by which renormalised probabilities are divided (1 otherwise).
    let sHigh = 1;
    let sLow = 0;
    if (renormalize) {
      rowTotal.reset();
      for (let c = 0; c < classes; c++) rowTotal.add(input[base + c]!);
      [sHigh, sLow] = twoSum(rowTotal.high, rowTotal.low);
    }
    const s = sampleWeights === null ? 1 : sampleWeights[r]!;

    let loss = 0;
    if (labels !== null) {
      const y = labels[r]!;
      if (y === ignoreIndex) continue; // losses[r] stays 0 and the sample is not counted
      count++;
      if (y === k) correct++;
      const wy = classWeights === null ? 1 : classWeights[y]!;
      totalWeight.add(s === 1 ? wy : weighted(wy, s));
      const given = keep * wy;
      if (keep !== 0 && wy !== 0) {
        const nl = isLogits ? m - input[base + y]! + lse1p : negLogProbability(input[base + y]!, low, high, sHigh, sLow);
        loss = given >= MIN_NORMAL ? given * nl : productOf(keep, wy, nl);
      }
      if (smoothing) {
        // Σ_c w_c·nl_c, compensated; for logits the log1p(s) part is factored out as shown above.
        rowSum.reset();
        for (let c = 0; c < classes; c++) {
          const wc = classWeights === null ? 1 : classWeights[c]!;
          if (wc === 0) continue;
          rowSum.add(isLogits ? wc * (m - input[base + c]!) : wc * negLogProbability(input[base + c]!, low, high, sHigh, sLow));
        }
        const spreadTerm = isLogits ? rowSum.value + lse1p * weightSum : rowSum.value;
        // ε/C below the normal range would carry fewer digits than the rest: then ε·(1/C)·Σ, scaled. A Σ that
        // overflows (weights near the float64 limit) is summed again term by term with ε/C applied first.
        loss += Number.isFinite(spreadTerm)
          ? spread >= MIN_NORMAL
            ? spread * spreadTerm
            : productOf(labelSmoothing, perClass, spreadTerm)
          : scaledSmoothingTerm(task, base, m, lse1p, sHigh, sLow);
      }
    } else {
      const t0 = targets!;
      count++;
      totalWeight.add(s);
      rowSum.reset();
      tinySum.reset(); // Σ_c w_c·nl_c when ε/C is below the normal range, scaled by ε/C once per row
      let best = t0[base]!;
      let bestClass = 0;
      for (let c = 0; c < classes; c++) {
        const tc = t0[base + c]!;
        if (tc > best) {
          best = tc;
          bestClass = c;
        }
        const wc = classWeights === null ? 1 : classWeights[c]!;
        // Exact zeros, not underflow: a term whose coefficient is 0 contributes 0 even where nl_c is infinite.
        const hasShare = (keep !== 0 && tc !== 0) || (smoothing && !tinySpread);
        if (wc === 0 || (!hasShare && !tinySpread)) continue;
        const nl = isLogits ? m - input[base + c]! + lse1p : negLogProbability(input[base + c]!, low, high, sHigh, sLow);
        if (hasShare) {
          const share = tinySpread ? keep * tc : keep * tc + spread;
          const coefficient = wc * share;
          // A coefficient outside the normal range (a tiny weight times a tiny target, or two huge ones) is
          // recomputed from the factors, without underflow or overflow on the way.
          rowSum.add(
            share >= MIN_NORMAL && coefficient >= MIN_NORMAL && coefficient <= Number.MAX_VALUE
              ? coefficient * nl
              : productOf(wc, keep, tc, nl) + (tinySpread ? 0 : productOf(wc, labelSmoothing, perClass, nl)),
          );
        }
        if (tinySpread) tinySum.add(wc * nl);
      }
      loss = rowSum.value;
      if (tinySpread) loss += productOf(labelSmoothing, perClass, tinySum.value);
      if (bestClass === k) correct++;
    }

    if (s !== 1) loss = weighted(loss, s);
    losses[r] = loss;
    if (!Number.isFinite(loss)) {
      if (nonFiniteRow < 0) nonFiniteRow = r;
      continue;
    }
    sum.add(loss);
  }

  return {
    losses,
    sumHigh: sum.high,
    sumLow: sum.low,
    totalWeightHigh: totalWeight.high,
    totalWeightLow: totalWeight.low,
    count,
    correct,
    nonFiniteRow,
  };
}

/** numpy.clip: minimum(maximum(p, low), high). */
function clip(p: number, low: number, high: number): number {
  return p < low ? low : p > high ? high : p;
}

/**
 * −ln(clip(p / S)) for a probability p of a row whose sum is S = sHigh + sLow (1 when the row is used as given, and
 * then exactly −ln(clip(p))). Renormalised, the clip applies to p/S, and a quotient near 1 (a confident, right
 * prediction: the loss is tiny) is taken as −log1p((p − S)/S), where p − sHigh is exact (Sterbenz: p ≥ S/2), so the
 * loss keeps its relative precision instead of rounding to 0.
 */
function negLogProbability(p: number, low: number, high: number, sHigh: number, sLow: number): number {
  if (sHigh === 1 && sLow === 0) return -Math.log(clip(p, low, high));
  const q = p / sHigh;
  if (q < low) return -Math.log(low);
  if (q > high) return -Math.log(high);
  return q >= 0.5 ? -Math.log1p((p - sHigh - sLow) / sHigh) : -Math.log(q);
}


/**
 * (ε/C)·Σ_c w_c·nl_c for one row of a labelled sample, each term scaled before it is added: for the rare row whose
 * plain Σ overflows although the smoothing term does not (class weights near the float64 limit).
 */
function scaledSmoothingTerm(task: ScoreTask, base: number, m: number, lse1p: number, sHigh: number, sLow: number): number {
  const { classes, input, classWeights } = task;
  const share = 1 / classes;
  const sum = new NonNegativeSum();
  for (let c = 0; c < classes; c++) {
    const wc = classWeights === null ? 1 : classWeights[c]!;
    if (wc === 0) continue;
    const nl = task.kind === 'logits' ? m - input[base + c]! + lse1p : negLogProbability(input[base + c]!, task.epsilon, 1 - task.epsilon, sHigh, sLow);
    sum.add(productOf(task.labelSmoothing, share, wc, nl));
  }
  return sum.value;
}

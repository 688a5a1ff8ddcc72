import type { Diagnostics } from './diagnostics.js';
import { NonNegativeSum } from './float64.js';
import { pairOf } from './pair.js';
import type { InputProblem, RowLosses, TargetLogProbTask } from './types.js';

/**
 * Checks every value: a log-probability is a number ≤ 0 (NaN and +Infinity are NOT_FINITE, anything above 0 is
 * LOG_PROBABILITY_POSITIVE), a mask value is 0 or 1. −Infinity is not a problem here: where it is counted it is an
 * infinite loss, which `targetLogProbRows` reports as the first non-finite row (a 422, like any infinite loss); where
 * the mask is 0 it is not counted. Masked values are checked like the others. At most `limit` problems, values first.
 */
export function findTargetLogProbProblems(task: TargetLogProbTask, limit = 10): InputProblem[] {
  const { values, mask } = task;
  checkLengths(task);
  const problems: InputProblem[] = [];
  for (let i = 0; i < values.length && problems.length < limit; i++) {
    const v = values[i]!;
    if (Number.isNaN(v) || v === Infinity) problems.push({ kind: 'NOT_FINITE', field: 'input', index: i, value: v });
    else if (v > 0) problems.push({ kind: 'LOG_PROBABILITY_POSITIVE', field: 'input', index: i, value: v });
  }
  if (mask !== null) {
    for (let i = 0; i < mask.length && problems.length < limit; i++) {
      const w = mask[i]!;
      if (w !== 0 && w !== 1) problems.push({ kind: 'MASK_NOT_BINARY', field: 'mask', index: i, value: w });
    }
  }
  return problems;
}

/**
 * Per-element losses in nats, loss_i = −values[i], in the form `crossEntropyRows` returns, so that `summarize` and
 * `scoreSequences` work on them: masked elements keep a loss of 0 and are not counted; every counted element has
 * weight 1 (total weight = count); the sum is Neumaier-compensated; `nonFiniteRow` is the first counted −Infinity.
 * `correct` is 0: accuracy has no meaning for this input form. Expects a task without problems.
 */
export function targetLogProbRows(task: TargetLogProbTask): RowLosses {
  const { values, mask } = task;
  checkLengths(task);
  const losses = new Float64Array(values.length);
  const sum = new NonNegativeSum();
  let count = 0;
  let nonFiniteRow = -1;
  for (let i = 0; i < values.length; i++) {
    if (mask !== null && mask[i] === 0) continue;
    count++;
    const loss = 0 - values[i]!; // 0 − (−0) = +0
    losses[i] = loss;
    if (!Number.isFinite(loss)) {
      if (nonFiniteRow < 0) nonFiniteRow = i;
      continue;
    }
    sum.add(loss);
  }
  return { losses, sumHigh: sum.high, sumLow: sum.low, totalWeightHigh: count, totalWeightLow: 0, count, correct: 0, nonFiniteRow };
}

/** Each element's weight in the cost's denominator, for `scoreSequences`: 1, or NaN where the mask is 0. */
export function targetLogProbWeights(task: TargetLogProbTask): Float64Array {
  checkLengths(task);
  const { mask } = task;
  const weights = new Float64Array(task.values.length).fill(1);
  if (mask !== null) for (let i = 0; i < mask.length; i++) if (mask[i] === 0) weights[i] = NaN;
  return weights;
}

function checkLengths(task: TargetLogProbTask): void {
  if (task.mask !== null && task.mask.length !== task.values.length) {
    throw new RangeError(`target log-probabilities: ${task.values.length} values but ${task.mask.length} mask values`);
  }
}

/**
 * The one diagnostic target log-probabilities allow: the probability of the true token, e^value per counted element
 * (NaN where masked), and its running sum for mean_probability. Every other figure needs the class distribution.
 */
export function targetLogProbDiagnostics(task: TargetLogProbTask): Diagnostics {
  const { values, mask } = task;
  const probability = new Float64Array(values.length).fill(NaN);
  const sum = new NonNegativeSum();
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    if (mask !== null && mask[i] === 0) continue;
    count++;
    probability[i] = Math.exp(values[i]!);
    sum.add(probability[i]!);
  }
  return {
    rows: { probability },
    state: { count, probability: pairOf(sum.high, sum.low), reciprocalRank: null, topK: null, entropy: null, kl: null, brier: null, calibration: null },
    nonFinite: null,
  };
}

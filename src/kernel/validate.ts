import type { InputProblem, ScoreTask } from './types.js';

/** How far a probability row's sum may stray from 1. */
export const PROBABILITY_SUM_TOLERANCE = 1e-4;

/**
 * Checks the domain of every value in a task: finite numbers, probabilities in [0, 1] with rows summing to 1 (or to
 * anything above 0 when they are to be renormalised), non-negative targets and class and sample weights, labels that are classes (or the ignore index). Returns at most `limit` problems,
 * in the order the fields are listed in the request, so the caller can report them all without a second pass.
 *
 * -Infinity is a legal logit (a masked class, only reachable through binary tensors): it gets probability 0, so a
 * label on it, or a row with nothing else, is an error rather than an infinite loss.
 */
export function findInputProblems(task: ScoreTask, limit = 10): InputProblem[] {
  const problems: InputProblem[] = [];
  const { input, rows, classes } = task;
  const full = (): boolean => problems.length >= limit;

  if (task.kind === 'logits') {
    // Nearly always every logit is finite: one quick pass says so, and the search for problems is skipped.
    const checked = classes > 0 && allFinite(input, rows * classes) ? rows : 0;
    for (let r = checked; r < rows && !full(); r++) {
      const base = r * classes;
      // A row is all masked when every logit is -Infinity; a NaN or +Infinity is reported as what it is.
      let unmasked = false;
      for (let c = 0; c < classes; c++) {
        const v = input[base + c]!;
        if (v === -Infinity) continue;
        unmasked = true;
        if (Number.isNaN(v) || v === Infinity) {
          problems.push({ kind: 'NOT_FINITE', field: 'input', index: base + c, value: v });
          if (full()) break;
        }
      }
      if (!unmasked && !full()) problems.push({ kind: 'ROW_ALL_MASKED', field: 'input', index: base, value: -Infinity });
    }
  } else {
    for (let r = 0; r < rows && !full(); r++) {
      const base = r * classes;
      let sum = 0;
      let rowOk = true;
      for (let c = 0; c < classes; c++) {
        const v = input[base + c]!;
        // Written so that NaN fails the test as well.
        if (!(v >= 0 && v <= 1)) {
          rowOk = false;
          problems.push({ kind: Number.isFinite(v) ? 'PROBABILITY_OUT_OF_RANGE' : 'NOT_FINITE', field: 'input', index: base + c, value: v });
          if (full()) break;
          continue;
        }
        sum += v;
      }
      // Renormalised rows may sum to anything but 0 (a row of zeros has no distribution to scale to).
      if (rowOk && (task.renormalize ? !(sum > 0) : !(Math.abs(sum - 1) <= PROBABILITY_SUM_TOLERANCE))) {
        problems.push({ kind: 'PROBABILITIES_NOT_NORMALIZED', field: 'input', index: base, value: sum });
      }
    }
  }

  const { labels, targets, classWeights, sampleWeights } = task;
  if (labels !== null) {
    for (let r = 0; r < rows && !full(); r++) {
      const y = labels[r]!;
      if (!Number.isInteger(y)) {
        problems.push({ kind: 'LABEL_NOT_INTEGER', field: 'labels', index: r, value: y });
      } else if (y === task.ignoreIndex) {
        continue;
      } else if (y < 0 || y >= classes) {
        problems.push({ kind: 'LABEL_OUT_OF_RANGE', field: 'labels', index: r, value: y });
      } else if (task.kind === 'logits' && input[r * classes + y] === -Infinity) {
        problems.push({ kind: 'LABEL_ON_MASKED_CLASS', field: 'labels', index: r, value: y });
      }
    }
  }
  if (targets !== null) {
    const n = rows * classes;
    for (let i = 0; i < n && !full(); i++) {
      const t = targets[i]!;
      if (!Number.isFinite(t)) problems.push({ kind: 'NOT_FINITE', field: 'targets', index: i, value: t });
      else if (t < 0) problems.push({ kind: 'NEGATIVE_TARGET', field: 'targets', index: i, value: t });
    }
  }
  if (classWeights !== null) {
    for (let c = 0; c < classWeights.length && !full(); c++) {
      const w = classWeights[c]!;
      if (!Number.isFinite(w)) problems.push({ kind: 'NOT_FINITE', field: 'classWeights', index: c, value: w });
      else if (w < 0) problems.push({ kind: 'NEGATIVE_WEIGHT', field: 'classWeights', index: c, value: w });
    }
  }
  if (sampleWeights !== null) {
    for (let r = 0; r < rows && !full(); r++) {
      const s = sampleWeights[r]!;
      if (!Number.isFinite(s)) problems.push({ kind: 'NOT_FINITE', field: 'sampleWeights', index: r, value: s });
      else if (s < 0) problems.push({ kind: 'NEGATIVE_WEIGHT', field: 'sampleWeights', index: r, value: s });
    }
  }
  return problems;
}

/**
 * Whether the first `n` values are all finite: x · 0 is ±0 for a finite x and NaN for NaN or ±Infinity, so the sum
 * is ±0 exactly when every value is finite. Four sums, so that the additions do not wait on one another.
 */
function allFinite(values: Float64Array, n: number): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += values[i]! * 0;
    s1 += values[i + 1]! * 0;
    s2 += values[i + 2]! * 0;
    s3 += values[i + 3]! * 0;
  }
  for (; i < n; i++) s0 += values[i]! * 0;
  return s0 + s1 + s2 + s3 === 0;
}

import { crossEntropyRows } from './crossEntropy.js';
import { diagnose, type Diagnostics, type DiagnosticsSpec } from './diagnostics.js';
import { pairOf, type Pair } from './pair.js';
import { rowWeights, scoreSequences, type ScoredSequences, type SequenceText } from './sequences.js';
import { summarize } from './summary.js';
import { findTargetLogProbProblems, targetLogProbDiagnostics, targetLogProbRows, targetLogProbWeights } from './targetLogProbs.js';
import type { InputProblem, RowLosses, ScoreSummary, ScoreTask } from './types.js';
import { findInputProblems } from './validate.js';

/** What to compute beside the loss figures, in the same evaluation. */
export interface EvaluationRequest {
  /** The diagnostics asked for, or null. */
  diagnostics: DiagnosticsSpec | null;
  /** Figures per index of the first dimension: `count` sequences of rows/count rows each, with their text lengths. */
  sequences: { count: number; text: SequenceText } | null;
}

export const LOSS_ONLY: EvaluationRequest = Object.freeze({ diagnostics: null, sequences: null });

/**
 * The loss figures' exact running state: the sum of the losses (nats) and the total weight as unevaluated pairs, the
 * counted samples and those whose arg-max is the true class. Plain JSON, so that the totals of many batches can be
 * added exactly (pair.ts addPairs) and summarised as one.
 */
export interface LossTotals {
  sum: Pair;
  totalWeight: Pair;
  count: number;
  correct: number;
}

/** The outcome of evaluating one task. */
export type Evaluation =
  | {
      status: 'ok';
      summary: ScoreSummary;
      totals: LossTotals;
      diagnostics: Diagnostics | null;
      sequences: ScoredSequences | null;
    }
  | { status: 'invalid'; problems: InputProblem[] }
  /**
   * `row` is the first sample whose loss (or, with `figure`, whose KL divergence or Brier score, or the first sequence
   * whose figures) is not finite, or -1 when only a sum overflows.
   */
  | { status: 'not-finite'; row: number; figure?: 'kl' | 'brier' | 'sequence' };

/**
 * Validates and scores one task: the single entry point shared by the inline path and the worker threads, so both
 * give bit-identical results and identical errors. The diagnostics and the sequences asked for are computed from the
 * same validated task and the same per-sample losses; asking for them never changes a loss figure.
 */
export function evaluate(task: ScoreTask, request: EvaluationRequest = LOSS_ONLY): Evaluation {
  const logProbs = task.kind === 'targetLogProbs' ? { values: task.input, mask: task.mask } : null;
  const problems = logProbs === null ? findInputProblems(task) : findTargetLogProbProblems(logProbs);
  if (problems.length > 0) return { status: 'invalid', problems };
  const rows: RowLosses = logProbs === null ? crossEntropyRows(task) : targetLogProbRows(logProbs);
  if (rows.nonFiniteRow >= 0) return { status: 'not-finite', row: rows.nonFiniteRow };
  if (task.unit === 'bits') {
    // A loss just below the float64 maximum in nats is above it in bits.
    const row = rows.losses.findIndex((x) => !Number.isFinite(x / Math.LN2));
    if (row >= 0) return { status: 'not-finite', row };
  }
  // Before summarize, which converts the losses to bits in place.
  let sequences: ScoredSequences | null = null;
  if (request.sequences !== null) {
    const weights = logProbs === null ? rowWeights(task) : targetLogProbWeights(logProbs);
    sequences = scoreSequences(rows.losses, weights, request.sequences.count, task.unit, request.sequences.text);
    if (sequences.nonFiniteSequence >= 0) return { status: 'not-finite', row: sequences.nonFiniteSequence, figure: 'sequence' };
  }
  const totals: LossTotals = {
    sum: pairOf(rows.sumHigh, rows.sumLow),
    totalWeight: pairOf(rows.totalWeightHigh, rows.totalWeightLow),
    count: rows.count,
    correct: rows.correct,
  };
  const summary = summarize(rows, task.unit);
  if (summary === null) return { status: 'not-finite', row: -1 };
  if (logProbs !== null) summary.accuracy = null; // no classes, no arg-max
  let diagnostics: Diagnostics | null = null;
  if (request.diagnostics !== null) {
    diagnostics = logProbs !== null ? targetLogProbDiagnostics(logProbs) : diagnose(task.renormalize ? renormalized(task) : task, request.diagnostics);
    if (diagnostics.nonFinite !== null) return { status: 'not-finite', row: diagnostics.nonFinite.row, figure: diagnostics.nonFinite.figure };
  }
  return { status: 'ok', summary, totals, diagnostics, sequences };
}

/** The task with each probability row divided by its sum: q as the loss sees it, for the diagnostics. */
function renormalized(task: ScoreTask): ScoreTask {
  const { input, rows, classes } = task;
  const q = new Float64Array(input.length);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += input[r * classes + c]!;
    for (let c = 0; c < classes; c++) q[r * classes + c] = input[r * classes + c]! / sum;
  }
  return { ...task, input: q, renormalize: false };
}

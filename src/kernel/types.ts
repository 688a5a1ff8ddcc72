/**
 * What the model produced for each sample: unnormalised scores or a probability distribution over the classes, or
 * only the log-probability it gave the true class (a serving engine's prompt logprobs: one number a sample).
 */
export type InputKind = 'logits' | 'probabilities' | 'targetLogProbs';

export type Unit = 'nats' | 'bits';

/**
 * One batch, flattened row-major: `rows` samples (every leading dimension folded together) of `classes` values.
 * Exactly one of `labels` and `targets` is set, except for target log-probabilities (`classes` 1, no truth: the input
 * is the truth's log-probability, counted where `mask` is not 0). Labels are stored as float64 so that any safe
 * integer, including an `ignoreIndex` outside int32, is held exactly.
 */
export interface ScoreTask {
  kind: InputKind;
  rows: number;
  classes: number;
  input: Float64Array;
  labels: Float64Array | null;
  targets: Float64Array | null;
  classWeights: Float64Array | null;
  /** A weight per row (sample), finite and ≥ 0, multiplying its loss and its share of the total weight; or null. */
  sampleWeights: Float64Array | null;
  /** Probabilities only: divide each row by its sum first (renormalised rows need not sum to 1 within 1e-4). */
  renormalize: boolean;
  /** Target log-probabilities only: 1 = counted, 0 = not; null counts every sample. */
  mask: Float64Array | null;
  ignoreIndex: number;
  labelSmoothing: number;
  epsilon: number;
  unit: Unit;
}

/** Which field of the task a problem is in; `index` is the flat (row-major) index into that field. */
export type TaskField = 'input' | 'labels' | 'targets' | 'classWeights' | 'sampleWeights' | 'mask';

export type InputProblemKind =
  | 'NOT_FINITE' // NaN or +Infinity (or -Infinity where it cannot mean a masked class)
  | 'ROW_ALL_MASKED' // every logit of a row is -Infinity
  | 'PROBABILITY_OUT_OF_RANGE'
  | 'PROBABILITIES_NOT_NORMALIZED'
  | 'NEGATIVE_TARGET'
  | 'NEGATIVE_WEIGHT'
  | 'LABEL_OUT_OF_RANGE'
  | 'LABEL_NOT_INTEGER'
  | 'LABEL_ON_MASKED_CLASS'
  | 'LOG_PROBABILITY_POSITIVE' // a target log-probability above 0
  | 'MASK_NOT_BINARY'; // a mask value other than 0 or 1

export interface InputProblem {
  kind: InputProblemKind;
  field: TaskField;
  /** Flat index of the element; for row-level problems, the row index times `classes` (the row's first element). */
  index: number;
  /** The value that is wrong (the row sum for PROBABILITIES_NOT_NORMALIZED). */
  value: number;
}

/** Per-sample losses in nats plus the running figures the aggregates are made from. */
export interface RowLosses {
  losses: Float64Array;
  /** Neumaier-compensated sum of `losses`: the sum is `sumHigh + sumLow`, more precise than either alone. */
  sumHigh: number;
  sumLow: number;
  totalWeightHigh: number;
  totalWeightLow: number;
  count: number;
  correct: number;
  /** First row whose loss is not finite, or -1. */
  nonFiniteRow: number;
}

export interface ScoreSummary {
  /** Per-sample losses in the requested unit. */
  losses: Float64Array;
  sum: number;
  cost: number | null;
  count: number;
  totalWeight: number;
  perplexity: number | null;
  accuracy: number | null;
  unit: Unit;
}

/** The outcome of scoring one task: a summary, the input problems found, or the row whose loss is not finite. */
export type Evaluation =
  | { status: 'ok'; summary: ScoreSummary }
  | { status: 'invalid'; problems: InputProblem[] }
  /** `row` is the first sample whose loss is not finite, or -1 when only the sum of the losses overflows. */
  | { status: 'not-finite'; row: number };

/** A batch of target log-probabilities, flattened: the loss of element i is −values[i], counted unless mask[i] is 0. */
export interface TargetLogProbTask {
  values: Float64Array;
  /** Same length as `values`, each 0 (not counted) or 1; null counts everything. */
  mask: Float64Array | null;
}

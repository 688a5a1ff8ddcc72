import { diagnosticsFigures, type DiagnosticsFigures } from '../kernel/diagnostics.js';
import type { Evaluation } from '../kernel/evaluate.js';
import { sequencesFigures, type SequenceFigures, type SequencesFigures } from '../kernel/sequences.js';
import type { InputProblem, InputProblemKind, ScoreSummary, Unit } from '../kernel/types.js';
import { ProblemError, type ErrorCode, type Issue } from './problems.js';
import { pointerTo, unflatten } from './pointer.js';
import { stateOf, type ScoreState } from './state.js';
import { inputIndices, sampleIndices, type DecodedTask, type Layout, type Options } from './task.js';

/** The batch figures of an answer (POST /cost; the inference protocol's scalar outputs), in the API's names. */
export interface CostFigures {
  sum: number;
  cost: number | null;
  count: number;
  total_weight: number;
  perplexity: number | null;
  accuracy: number | null;
  unit: Unit;
}

/** Numbers nested in arrays to any depth, as JSON holds tensors. */
export type NestedNumbers = number | NestedNumbers[];

/** The answer of POST /loss: per-sample losses in the labels' shape, and the batch figures. */
export interface LossFigures extends CostFigures {
  losses: NestedNumbers[];
}

/** Per-sample diagnostics, nested in the samples' shape like losses (null for a sample not counted). */
export interface SampleFigures {
  probability?: NestedNumbers[];
  rank?: NestedNumbers[];
  entropy?: NestedNumbers[];
  kl?: NestedNumbers[];
  brier?: NestedNumbers[];
}

/**
 * Everything an answer may say beyond the loss figures, in the API's names and order: the batch diagnostics, the
 * per-sequence and text figures, the mergeable state.
 */
export type ExtraFigures = Omit<DiagnosticsFigures, 'brier'> & { brier?: number | null; mean_brier?: number | null } & Partial<SequencesFigures> & {
    sequences?: SequenceFigures[];
    state?: ScoreState;
  };

const PROBLEM_CODES: Record<InputProblemKind, ErrorCode> = {
  NOT_FINITE: 'XENT_INVALID_NUMBER',
  ROW_ALL_MASKED: 'XENT_ROW_ALL_MASKED',
  PROBABILITY_OUT_OF_RANGE: 'XENT_PROBABILITY_OUT_OF_RANGE',
  PROBABILITIES_NOT_NORMALIZED: 'XENT_PROBABILITIES_NOT_NORMALIZED',
  NEGATIVE_TARGET: 'XENT_NEGATIVE_TARGET',
  NEGATIVE_WEIGHT: 'XENT_NEGATIVE_WEIGHT',
  LABEL_NOT_INTEGER: 'XENT_LABEL_NOT_INTEGER',
  LABEL_OUT_OF_RANGE: 'XENT_LABEL_OUT_OF_RANGE',
  LABEL_ON_MASKED_CLASS: 'XENT_LABEL_ON_MASKED_CLASS',
  LOG_PROBABILITY_POSITIVE: 'XENT_LOG_PROBABILITY_POSITIVE',
  MASK_NOT_BINARY: 'XENT_INVALID_MASK',
};

/**
 * Narrows an evaluation to its summary: a failed one is thrown as the ProblemError that reports it, with pointers
 * into the request as `layout` places its tensors.
 */
export function assertScored(evaluation: Evaluation, layout: Layout): asserts evaluation is Extract<Evaluation, { status: 'ok' }> {
  if (evaluation.status === 'invalid') {
    throw new ProblemError(evaluation.problems.map((p) => issueOf(p, layout)) as [Issue, ...Issue[]]);
  }
  if (evaluation.status === 'not-finite') {
    if (evaluation.row < 0) {
      throw ProblemError.of('XENT_NON_FINITE_RESULT', '', 'the sum of the losses exceeds the float64 range');
    }
    if (evaluation.figure === 'sequence') {
      throw ProblemError.of('XENT_NON_FINITE_RESULT', pointerTo(layout.inputField, [evaluation.row]), `the figures of sequence ${evaluation.row} leave the float64 range`);
    }
    const at = unflatten(evaluation.row, layout.rowShape);
    if (evaluation.figure !== undefined) {
      throw ProblemError.of(
        'XENT_NON_FINITE_RESULT',
        pointerTo(layout.inputField, sampleIndices(evaluation.row, layout)),
        `the ${evaluation.figure === 'kl' ? 'KL divergence' : 'Brier score'} of sample [${at.join(', ')}] is not finite (a target on a class of probability 0, or a target beyond the float64 range)`,
      );
    }
    throw ProblemError.of(
      'XENT_NON_FINITE_RESULT',
      pointerTo(layout.inputField, sampleIndices(evaluation.row, layout)),
      `the loss of sample [${at.join(', ')}] is not finite` +
        (layout.inputField === 'probabilities'
          ? ' (a probability of 0 where the label, target or smoothing puts weight; set epsilon to clip)'
          : layout.inputField === 'target_log_probs'
            ? ' (a log-probability of -Infinity: the model gave the true token probability 0)'
            : ' (it exceeds the float64 range)'),
    );
  }
}

/** The batch figures of a summary, in the API's names. */
export function costFigures(s: ScoreSummary): CostFigures {
  return {
    sum: s.sum,
    cost: s.cost,
    count: s.count,
    total_weight: s.totalWeight,
    perplexity: s.perplexity,
    accuracy: s.accuracy,
    unit: s.unit,
  };
}

/** The answer of POST /loss: the per-sample losses nested in the labels' shape, then the batch figures. */
export function lossFigures(s: ScoreSummary, layout: Layout): LossFigures {
  return { losses: nest(s.losses, layout.rowShape), ...costFigures(s) };
}

type Scored = Extract<Evaluation, { status: 'ok' }>;

/**
 * The whole answer of POST /loss (`withLosses`) or /cost for a scored request: the losses and per-sample diagnostics
 * (in /loss), the loss figures, then whatever `include` asked for. The batch Brier score is `brier` in /cost and
 * `mean_brier` in /loss, where `brier` holds the per-sample scores.
 */
export function answerFigures(scored: Scored, decoded: DecodedTask, options: Options, withLosses: boolean): Record<string, unknown> {
  const { summary } = scored;
  const { layout } = decoded;
  const unit = summary.unit;
  const answer: Record<string, unknown> = {};
  if (withLosses) {
    answer.losses = nest(summary.losses, layout.rowShape);
    Object.assign(answer, sampleFigures(scored, layout, unit));
  }
  Object.assign(answer, costFigures(summary), extraFigures(scored, decoded, options, withLosses));
  return answer;
}

/** The per-sample diagnostics, nested like losses, entropy and KL in the answer's unit. */
export function sampleFigures(scored: Scored, layout: Layout, unit: Unit): SampleFigures {
  const rows = scored.diagnostics?.rows;
  if (rows === undefined) return {};
  const inUnit = (values: Float64Array) => (unit === 'nats' ? values : values.map((x) => x / Math.LN2));
  const figures: SampleFigures = {};
  if (rows.probability !== undefined) figures.probability = nest(rows.probability, layout.rowShape);
  if (rows.rank !== undefined) figures.rank = nest(rows.rank, layout.rowShape);
  if (rows.entropy !== undefined) figures.entropy = nest(inUnit(rows.entropy), layout.rowShape);
  if (rows.kl !== undefined) figures.kl = nest(inUnit(rows.kl), layout.rowShape);
  if (rows.brier !== undefined) figures.brier = nest(rows.brier, layout.rowShape);
  return figures;
}

/** The batch figures `include` asked for, and the state. */
export function extraFigures(scored: Scored, decoded: DecodedTask, options: Options, withLosses: boolean): ExtraFigures {
  const figures: ExtraFigures = {};
  const unit = scored.summary.unit;
  if (scored.diagnostics !== null) {
    const { brier, ...rest } = diagnosticsFigures(scored.diagnostics.state, unit);
    Object.assign(figures, rest);
    if (brier !== undefined) {
      if (withLosses) figures.mean_brier = brier;
      else figures.brier = brier;
    }
  }
  if (scored.sequences !== null) {
    if (options.include.has('sequences')) figures.sequences = scored.sequences.sequences;
    Object.assign(figures, sequencesFigures(scored.sequences.state));
  }
  if (options.include.has('state')) {
    const input = decoded.layout.inputField === 'target_log_probs' ? 'target_log_probs' : 'classes';
    figures.state = stateOf(options, input, decoded.task.classWeights, scored.totals, scored.diagnostics?.state ?? null, scored.sequences?.state ?? null);
  }
  return figures;
}

/** `values` (row-major) as nested arrays of the given shape. */
export function nest(values: Float64Array, shape: readonly number[]): NestedNumbers[] {
  const build = (depth: number, offset: number): NestedNumbers[] => {
    const size = shape[depth]!;
    if (depth === shape.length - 1) return Array.from(values.subarray(offset, offset + size));
    let stride = 1;
    for (let d = depth + 1; d < shape.length; d++) stride *= shape[d]!;
    const out = new Array<NestedNumbers>(size);
    for (let i = 0; i < size; i++) out[i] = build(depth + 1, offset + i * stride);
    return out;
  };
  return build(0, 0);
}

function issueOf(p: InputProblem, layout: Layout): Issue {
  const { shape, classAxis, rowShape, inputField, truthField } = layout;
  const code = PROBLEM_CODES[p.kind];
  const classes = classAxis === null ? 1 : shape[classAxis]!;
  switch (p.field) {
    case 'input': {
      const rowLevel = p.kind === 'ROW_ALL_MASKED' || p.kind === 'PROBABILITIES_NOT_NORMALIZED';
      const at = rowLevel ? sampleIndices(p.index / classes, layout) : inputIndices(p.index, layout);
      return { code, pointer: pointerTo(inputField, at), detail: describeProblem(p, classes) };
    }
    case 'labels':
      return { code, pointer: pointerTo('labels', unflatten(p.index, rowShape)), detail: describeProblem(p, classes) };
    case 'targets':
      return { code, pointer: pointerTo(truthField ?? 'targets', inputIndices(p.index, layout)), detail: describeProblem(p, classes) };
    case 'mask':
      return { code, pointer: pointerTo('mask', unflatten(p.index, rowShape)), detail: describeProblem(p, classes) };
    case 'classWeights':
      return { code, pointer: pointerTo('class_weights', [p.index]), detail: describeProblem(p, classes, 'class weight') };
    case 'sampleWeights':
      return { code, pointer: pointerTo('sample_weights', unflatten(p.index, rowShape)), detail: describeProblem(p, classes, 'sample weight') };
  }
}

function describeProblem(p: InputProblem, classes: number, weight = 'weight'): string {
  switch (p.kind) {
    case 'NOT_FINITE':
      return `${p.value} is not allowed here: expected a finite number`;
    case 'ROW_ALL_MASKED':
      return 'every logit of this sample is -Infinity';
    case 'PROBABILITY_OUT_OF_RANGE':
      return `probability ${p.value} is outside [0, 1]`;
    case 'PROBABILITIES_NOT_NORMALIZED':
      return p.value === 0
        ? 'the probabilities sum to 0: there is no distribution to score'
        : `the probabilities sum to ${p.value}, off by ${Math.abs(p.value - 1).toPrecision(2)} where 1e-4 is allowed: ` +
            'send renormalize: true to divide each row by its sum (low-precision softmax outputs miss 1 by a few 1e-4), ' +
            'epsilon to clip zeros, or the logits themselves';
    case 'NEGATIVE_TARGET':
      return `target ${p.value} is negative`;
    case 'NEGATIVE_WEIGHT':
      return `${weight} ${p.value} is negative`;
    case 'LABEL_NOT_INTEGER':
      return `label ${p.value} is not an integer`;
    case 'LABEL_OUT_OF_RANGE':
      return `label ${p.value} is outside [0, ${classes}) and is not ignore_index`;
    case 'LABEL_ON_MASKED_CLASS':
      return `label ${p.value} is a masked class (its logit is -Infinity)`;
    case 'LOG_PROBABILITY_POSITIVE':
      return `log-probability ${p.value} is above 0: a probability above 1`;
    case 'MASK_NOT_BINARY':
      return `mask value ${p.value} is neither 0 nor 1`;
  }
}

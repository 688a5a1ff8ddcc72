import { diagnosticsFigures, mergeDiagnostics, type DiagnosticsFigures, type DiagnosticsState } from '../kernel/diagnostics.js';
import type { LossTotals } from '../kernel/evaluate.js';
import { addPairs, type Pair } from '../kernel/pair.js';
import { mergeSequences, sequencesFigures, type SequencesFigures, type SequencesState } from '../kernel/sequences.js';
import { summarize } from '../kernel/summary.js';
import type { ScoreSummary, Unit } from '../kernel/types.js';
import type { IncludeName } from './fields.js';
import { ProblemError, type Issue } from './problems.js';
import type { Options } from './task.js';

/**
 * The mergeable state of a batch (`include: ["state"]`): every running figure of the answer, exactly (sums as
 * unevaluated pairs of doubles, counts as integers), and the options that give the figures their meaning. States of
 * disjoint batches with the same options merge (`mergeStates`, POST /merge) into the state of their union, whose figures
 * equal one request's over all of it within 2 ulp, whatever the split and the order.
 */
export interface ScoreState {
  v: 1;
  options: StateOptions;
  loss: { sum: Pair; total_weight: Pair; count: number; correct: number };
  diagnostics: DiagnosticsState | null;
  sequences: SequencesState | null;
}

/** What two states must agree on to be merged. `class_weights` is a digest: a state stays small with 50 000 classes. */
export interface StateOptions {
  input: 'classes' | 'target_log_probs';
  unit: Unit;
  ignore_index: number;
  label_smoothing: number;
  epsilon: number;
  renormalize: boolean;
  class_weights: string | null;
  include: IncludeName[];
  top_k: number[] | null;
  calibration_bins: number | null;
}

/** The state of one evaluated request. */
export function stateOf(
  options: Options,
  input: 'classes' | 'target_log_probs',
  classWeights: Float64Array | null,
  totals: LossTotals,
  diagnostics: DiagnosticsState | null,
  sequences: SequencesState | null,
): ScoreState {
  const include = [...options.include].sort();
  return {
    v: 1,
    options: {
      input,
      unit: options.unit,
      ignore_index: options.ignoreIndex,
      label_smoothing: options.labelSmoothing,
      epsilon: options.epsilon,
      renormalize: options.renormalize,
      class_weights: classWeights === null ? null : digest(classWeights),
      include,
      top_k: options.include.has('top_k') ? [...options.topK] : null,
      calibration_bins: options.include.has('calibration') ? options.calibrationBins : null,
    },
    loss: { sum: totals.sum, total_weight: totals.totalWeight, count: totals.count, correct: totals.correct },
    diagnostics,
    sequences,
  };
}

/**
 * FNV-1a (64-bit) of the weights' float64 bits, with their count: equal weights give equal digests, and a state does
 * not carry C numbers. Not a security measure: it tells a client that it merges batches weighed differently.
 */
function digest(weights: Float64Array): string {
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  let hash = 0xcbf29ce484222325n;
  for (const b of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(b)) * 0x100000001b3n);
  return `fnv1a64:${weights.length}:${hash.toString(16).padStart(16, '0')}`;
}

/** The figures a state stands for, as /cost answers them (without `state`). */
export interface StateFigures {
  summary: ScoreSummary;
  diagnostics: DiagnosticsFigures | null;
  sequences: SequencesFigures | null;
}

/** The batch figures of a (merged) state: summarised exactly as one request's running figures are. */
export function figuresOfState(state: ScoreState): StateFigures | null {
  const { sum, total_weight: weight, count, correct } = state.loss;
  const summary = summarize(
    { losses: new Float64Array(0), sumHigh: sum[0], sumLow: sum[1], totalWeightHigh: weight[0], totalWeightLow: weight[1], count, correct, nonFiniteRow: -1 },
    state.options.unit,
  );
  if (summary === null) return null;
  if (state.options.input === 'target_log_probs') summary.accuracy = null;
  return {
    summary,
    diagnostics: state.diagnostics === null ? null : diagnosticsFigures(state.diagnostics, state.options.unit),
    sequences: state.sequences === null ? null : sequencesFigures(state.sequences),
  };
}

/**
 * The state of the union of the batches whose states are given: each checked (version, structure, counts ≥ 0,
 * finite parts: never a wrong number from a tampered state), all with the same options, then added exactly. Throws a
 * ProblemError at `/states/<i>` (and the place inside the state) for the first that is malformed or disagrees.
 */
export function mergeStates(states: unknown): ScoreState {
  if (!Array.isArray(states) || states.length === 0) {
    throw ProblemError.of('XENT_INVALID_STATE', '/states', 'states must be a non-empty array of states, as answers with include: ["state"] give them');
  }
  const checked = states.map((s, i) => checkState(s, `/states/${i}`));
  const first = checked[0]!;
  const reference = JSON.stringify(first.options);
  let merged = first;
  for (let i = 1; i < checked.length; i++) {
    const s = checked[i]!;
    if (JSON.stringify(s.options) !== reference) {
      const key = (Object.keys(first.options) as (keyof StateOptions)[]).find((k) => JSON.stringify(first.options[k]) !== JSON.stringify(s.options[k]));
      throw ProblemError.of(
        'XENT_STATE_MISMATCH',
        `/states/${i}/options/${key}`,
        `state ${i} was computed with ${key} ${JSON.stringify(s.options[key!])}, state 0 with ${JSON.stringify(first.options[key!])}: only states of the same options merge`,
      );
    }
    const shape = (x: ScoreState) => (x.sequences === null ? 'none' : `${x.sequences.bytes === null}${x.sequences.words === null}`);
    if (shape(s) !== shape(first)) {
      throw ProblemError.of(
        'XENT_STATE_MISMATCH',
        `/states/${i}/sequences`,
        `state ${i} and state 0 differ in their sequence figures (one was scored with bytes or words, or sequences, and the other not)`,
      );
    }
    merged = {
      v: 1,
      options: first.options,
      loss: {
        sum: addPairs(merged.loss.sum, s.loss.sum),
        total_weight: addPairs(merged.loss.total_weight, s.loss.total_weight),
        count: merged.loss.count + s.loss.count,
        correct: merged.loss.correct + s.loss.correct,
      },
      diagnostics: merged.diagnostics === null ? null : mergeDiagnostics(merged.diagnostics, s.diagnostics!),
      sequences: merged.sequences === null ? null : mergeSequences(merged.sequences, s.sequences!),
    };
    // Each count was checked to be a safe integer, but their sum may not be: then it is no longer exact (no real batch
    // holds 2^53 samples), and a state the service wrote would be one it refuses to read back.
    if (!countsExact(merged)) {
      throw ProblemError.of('XENT_INVALID_STATE', `/states/${i}`, `merged with the states before it, state ${i} makes a count exceed 2^53 - 1: these are not states of real batches`);
    }
  }
  return merged;
}

/** Whether every count of a state is a safe integer (exact in a double). */
function countsExact(s: ScoreState): boolean {
  const d = s.diagnostics;
  const q = s.sequences;
  const counts = [
    s.loss.count,
    s.loss.correct,
    ...(d === null ? [] : [d.count, ...(d.topK ?? []).map((t) => t.hits), ...(d.calibration ?? []).flatMap((b) => [b.count, b.correct])]),
    ...(q === null ? [] : [q.sequences, q.bytes ?? 0, q.words ?? 0, q.perplexityCount]),
  ];
  return counts.every((n) => Number.isSafeInteger(n));
}

// ---------------------------------------------------------------------------------------------------------------
// Checking a state that came back from a client: every field, so that merging never meets a value it cannot use.

type Json = Record<string, unknown>;

class StateChecker {
  readonly issues: Issue[] = [];
  constructor(readonly root: string) {}

  fail(at: string, detail: string): void {
    if (this.issues.length < 10) this.issues.push({ code: 'XENT_INVALID_STATE', pointer: `${this.root}${at}`, detail });
  }

  object(v: unknown, at: string): Json | null {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Json;
    this.fail(at, 'expected an object');
    return null;
  }

  count(v: unknown, at: string): number {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    this.fail(at, 'expected a count: an integer >= 0');
    return 0;
  }

  /** A pair [high, low] of finite doubles with high = fl(high + low) and a non-negative sum. */
  pair(v: unknown, at: string, nonNegative = true): Pair {
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      const [high, low] = v as [number, number];
      if (high + low === high && (!nonNegative || high >= 0)) return [high, low];
    }
    this.fail(at, 'expected a sum as a pair [high, low] of finite numbers, as the service writes it');
    return [0, 0];
  }

  oneOf<T>(v: unknown, at: string, values: readonly T[]): T {
    if (values.includes(v as T)) return v as T;
    this.fail(at, `expected one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
    return values[0]!;
  }

  finite(v: unknown, at: string): number {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    this.fail(at, 'expected a finite number');
    return 0;
  }
}

function checkState(value: unknown, root: string): ScoreState {
  const c = new StateChecker(root);
  const s = c.object(value, '');
  if (s === null) throw new ProblemError(c.issues as [Issue, ...Issue[]]);
  if (s.v !== 1) {
    throw ProblemError.of('XENT_INVALID_STATE', `${root}/v`, `state version ${JSON.stringify(s.v) ?? 'missing'} is not one this service reads (1)`);
  }
  const o = c.object(s.options, '/options') ?? {};
  const include = Array.isArray(o.include) && o.include.every((n) => typeof n === 'string') ? (o.include as IncludeName[]) : (c.fail('/options/include', 'expected the include names'), []);
  const options: StateOptions = {
    input: c.oneOf(o.input, '/options/input', ['classes', 'target_log_probs'] as const),
    unit: c.oneOf(o.unit, '/options/unit', ['nats', 'bits'] as const),
    ignore_index: c.finite(o.ignore_index, '/options/ignore_index'),
    label_smoothing: c.finite(o.label_smoothing, '/options/label_smoothing'),
    epsilon: c.finite(o.epsilon, '/options/epsilon'),
    renormalize: c.oneOf(o.renormalize, '/options/renormalize', [false, true] as const),
    class_weights: o.class_weights === null || typeof o.class_weights === 'string' ? (o.class_weights as string | null) : (c.fail('/options/class_weights', 'expected null or a digest'), null),
    include,
    top_k: o.top_k === null ? null : Array.isArray(o.top_k) && o.top_k.every((k) => Number.isSafeInteger(k) && (k as number) >= 1) ? (o.top_k as number[]) : (c.fail('/options/top_k', 'expected null or integers >= 1'), null),
    calibration_bins: o.calibration_bins === null ? null : Number.isSafeInteger(o.calibration_bins) ? (o.calibration_bins as number) : (c.fail('/options/calibration_bins', 'expected null or an integer'), null),
  };
  const l = c.object(s.loss, '/loss') ?? {};
  const loss = {
    sum: c.pair(l.sum, '/loss/sum'),
    total_weight: c.pair(l.total_weight, '/loss/total_weight'),
    count: c.count(l.count, '/loss/count'),
    correct: c.count(l.correct, '/loss/correct'),
  };
  if (loss.correct > loss.count) c.fail('/loss/correct', 'more correct samples than counted ones');
  const diagnostics = s.diagnostics === null || s.diagnostics === undefined ? null : checkDiagnostics(c, s.diagnostics, options);
  if ((diagnostics === null) !== !include.some((n) => n !== 'sequences' && n !== 'state')) {
    c.fail('/diagnostics', 'the diagnostics do not match the include names of the options');
  }
  const sequences = s.sequences === null || s.sequences === undefined ? null : checkSequences(c, s.sequences);
  if (c.issues.length > 0) throw new ProblemError(c.issues as [Issue, ...Issue[]]);
  return { v: 1, options, loss, diagnostics, sequences };
}

function checkDiagnostics(c: StateChecker, value: unknown, options: StateOptions): DiagnosticsState | null {
  const d = c.object(value, '/diagnostics');
  if (d === null) return null;
  const has = (name: IncludeName) => options.include.includes(name);
  const optionalPair = (v: unknown, name: string, wanted: boolean): Pair | null => {
    if (!wanted) {
      if (v !== null && v !== undefined) c.fail(`/diagnostics/${name}`, `present, but not in the include names`);
      return null;
    }
    return c.pair(v, `/diagnostics/${name}`);
  };
  const count = c.count(d.count, '/diagnostics/count');
  let topK: DiagnosticsState['topK'] = null;
  if (has('top_k')) {
    const ks = options.top_k ?? [];
    if (!Array.isArray(d.topK) || d.topK.length !== ks.length) c.fail('/diagnostics/topK', 'expected one entry per k of the options');
    else {
      topK = (d.topK as unknown[]).map((entry, i) => {
        const e = c.object(entry, `/diagnostics/topK/${i}`) ?? {};
        if (e.k !== ks[i]) c.fail(`/diagnostics/topK/${i}/k`, `expected k = ${ks[i]}`);
        const hits = c.count(e.hits, `/diagnostics/topK/${i}/hits`);
        if (hits > count) c.fail(`/diagnostics/topK/${i}/hits`, 'more hits than counted samples');
        return { k: ks[i]!, hits };
      });
    }
  }
  let calibration: DiagnosticsState['calibration'] = null;
  if (has('calibration')) {
    const bins = options.calibration_bins ?? 0;
    if (!Array.isArray(d.calibration) || d.calibration.length !== bins) c.fail('/diagnostics/calibration', `expected ${bins} bins`);
    else {
      calibration = (d.calibration as unknown[]).map((entry, b) => {
        const at = `/diagnostics/calibration/${b}`;
        const e = c.object(entry, at) ?? {};
        const binCount = c.count(e.count, `${at}/count`);
        const correct = c.count(e.correct, `${at}/correct`);
        if (correct > binCount) c.fail(`${at}/correct`, 'more correct samples than samples in the bin');
        return { count: binCount, correct, confidence: c.pair(e.confidence, `${at}/confidence`) };
      });
    }
  }
  return {
    count,
    probability: optionalPair(d.probability, 'probability', has('probability')),
    reciprocalRank: optionalPair(d.reciprocalRank, 'reciprocalRank', has('rank')),
    topK,
    entropy: optionalPair(d.entropy, 'entropy', has('entropy')),
    kl: has('kl') ? c.pair(d.kl, '/diagnostics/kl', false) : optionalPair(d.kl, 'kl', false),
    brier: optionalPair(d.brier, 'brier', has('brier')),
    calibration,
  };
}

function checkSequences(c: StateChecker, value: unknown): SequencesState | null {
  const s = c.object(value, '/sequences');
  if (s === null) return null;
  const optionalCount = (v: unknown, at: string): number | null => (v === null ? null : c.count(v, at));
  return {
    sequences: c.count(s.sequences, '/sequences/sequences'),
    sum: c.pair(s.sum, '/sequences/sum'),
    bytes: optionalCount(s.bytes, '/sequences/bytes'),
    words: optionalCount(s.words, '/sequences/words'),
    perplexitySum: c.pair(s.perplexitySum, '/sequences/perplexitySum'),
    perplexityCount: c.count(s.perplexityCount, '/sequences/perplexityCount'),
    perplexityOverflow: s.perplexityOverflow === true ? true : s.perplexityOverflow === false ? false : (c.fail('/sequences/perplexityOverflow', 'expected a boolean'), false),
  };
}

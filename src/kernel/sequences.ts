import { NonNegativeSum } from './float64.js';
import { addPairs, expOfQuotient, pairOf, quotient, quotientParts, type Pair } from './pair.js';
import { weighted } from './product.js';
import { summarize } from './summary.js';
import type { ScoreTask, Unit } from './types.js';

/** The byte and word length of each sequence's text (N non-negative integers each), or null when not given. */
export interface SequenceText {
  bytes: readonly number[] | null;
  words: readonly number[] | null;
}

/** One sequence's figures, with the API's names: sum and cost in the unit, the rest unit-free. */
export interface SequenceFigures {
  sum: number;
  count: number;
  total_weight: number;
  /** null when nothing counts (no token, or a total weight of 0) */
  cost: number | null;
  /** exp(cost in nats); null with the cost, or beyond the float64 range */
  perplexity: number | null;
  /** With bytes: (sum in bits) / bytes, null when no token counts or bytes is 0. */
  bits_per_byte?: number | null;
  /** With bytes: 2^bits_per_byte, null with it or beyond the float64 range. */
  byte_perplexity?: number | null;
  /** With words: exp((sum in nats) / words), null when no token counts, words is 0, or beyond the float64 range. */
  word_perplexity?: number | null;
}

/**
 * The batch part of the sequence figures, plain JSON and mergeable with `mergeSequences`: the corpus sum as a pair,
 * byte and word totals as integers, the per-sequence perplexities as a pair and a count.
 */
export interface SequencesState {
  /** Sequences seen. */
  sequences: number;
  /** Σ loss in nats over every counted token. */
  sum: Pair;
  /** Σ bytes (words) over the sequences that count a token; null when not given. */
  bytes: number | null;
  words: number | null;
  /** Σ perplexity over the sequences that have one (a total weight above 0), and how many. */
  perplexitySum: Pair;
  perplexityCount: number;
  /** Some sequence's perplexity (or their sum) is beyond the float64 range: their mean is then null. */
  perplexityOverflow: boolean;
}

/** The batch figures from a state, with the API's names (the bytes and words figures when those were given). */
export interface SequencesFigures {
  /** The mean of the per-sequence perplexities; null when no sequence has one, or one is beyond float64. */
  mean_sequence_perplexity: number | null;
  bits_per_byte?: number | null;
  byte_perplexity?: number | null;
  word_perplexity?: number | null;
}

export interface ScoredSequences {
  sequences: SequenceFigures[];
  state: SequencesState;
  /** The first sequence whose sum or cost leaves the float64 range (a tiny total weight), or -1. */
  nonFiniteSequence: number;
}

/** Each row's weight in the cost's denominator, NaN for a row that is not counted: the label's class weight (1 without class weights) or NaN for ignore_index; 1 for soft targets. */
export function rowWeights(task: ScoreTask): Float64Array {
  const { rows, labels, classWeights, sampleWeights, ignoreIndex } = task;
  const weights = new Float64Array(rows).fill(1);
  for (let r = 0; r < rows; r++) {
    const s = sampleWeights === null ? 1 : sampleWeights[r]!;
    if (labels === null) {
      weights[r] = s;
      continue;
    }
    const y = labels[r]!;
    const w = classWeights === null ? 1 : classWeights[y]!;
    // As the loss pass weighs the total: w_y·s_i, exactly the same product.
    weights[r] = y === ignoreIndex ? NaN : s === 1 ? w : weighted(w, s);
  }
  return weights;
}

/**
 * Per-sequence figures for a batch whose first dimension has N = `sequences` entries, each over the rows below it
 * (rows / N consecutive rows), from per-row losses in nats and weights (NaN = not counted; `rowWeights`,
 * `targetLogProbWeights`). Call it before `summarize`, which converts the losses to bits in place.
 *
 * Each sequence's sum and total weight are Neumaier sums in row order, exactly as `crossEntropyRows` forms the corpus
 * ones, and its cost and perplexity come from `summarize` itself (the double-double quotient), so a batch of one
 * sequence reproduces the corpus figures bit for bit. bits_per_byte = sum / (bytes · ln 2) and the perplexities
 * e^(sum / n) use the same quotient of the exact pair, never a mean of means. The batch state adds the per-sequence
 * pairs in double-double arithmetic.
 */
export function scoreSequences(
  losses: Float64Array,
  weights: Float64Array,
  sequences: number,
  unit: Unit,
  text: SequenceText = { bytes: null, words: null },
): ScoredSequences {
  const rows = losses.length;
  if (!(Number.isSafeInteger(sequences) && sequences >= 1 && rows % sequences === 0) || weights.length !== rows) {
    throw new RangeError(`scoreSequences: ${rows} rows (${weights.length} weights) in ${sequences} sequences`);
  }
  const { bytes, words } = text;
  for (const lengths of [bytes, words]) {
    if (lengths !== null && (lengths.length !== sequences || !lengths.every((n) => Number.isSafeInteger(n) && n >= 0))) {
      throw new RangeError(`scoreSequences: expected ${sequences} non-negative integer lengths`);
    }
  }
  const per = rows / sequences;
  const out: SequenceFigures[] = [];
  let sum: Pair = [0, 0];
  let perplexitySum: Pair = [0, 0];
  let perplexityCount = 0;
  let perplexityOverflow = false;
  let byteTotal = 0;
  let wordTotal = 0;
  let nonFiniteSequence = -1;

  for (let i = 0; i < sequences; i++) {
    const lossSum = new NonNegativeSum();
    const weight = new NonNegativeSum();
    let count = 0;
    for (let r = i * per; r < (i + 1) * per; r++) {
      const w = weights[r]!;
      if (w !== w) continue; // not counted
      count++;
      weight.add(w);
      lossSum.add(losses[r]!);
    }
    const [sumHigh, sumLow, weightHigh, weightLow] = [lossSum.high, lossSum.low, weight.high, weight.low];
    const summary = summarize(
      { losses: EMPTY, sumHigh, sumLow, totalWeightHigh: weightHigh, totalWeightLow: weightLow, count, correct: 0, nonFiniteRow: -1 },
      unit,
    );
    if (summary === null) {
      if (nonFiniteSequence < 0) nonFiniteSequence = i;
      out.push({ sum: NaN, count, total_weight: weightHigh + weightLow, cost: null, perplexity: null });
      continue;
    }
    const figures: SequenceFigures = {
      sum: summary.sum,
      count,
      total_weight: summary.totalWeight,
      cost: summary.cost,
      perplexity: summary.perplexity,
    };
    const nats = pairOf(sumHigh, sumLow);
    sum = addPairs(sum, nats);
    if (summary.cost !== null) {
      const next = summary.perplexity === null ? null : addPairs(perplexitySum, [summary.perplexity, 0]);
      if (next === null || !Number.isFinite(next[0])) perplexityOverflow = true;
      else {
        perplexitySum = next;
        perplexityCount++;
      }
    }
    if (bytes !== null) {
      const n = count > 0 ? bytes[i]! : 0;
      byteTotal += n;
      figures.bits_per_byte = n > 0 ? bitsPer(nats, n) : null;
      figures.byte_perplexity = n > 0 ? expOfQuotient(nats, n) : null;
    }
    if (words !== null) {
      const n = count > 0 ? words[i]! : 0;
      wordTotal += n;
      figures.word_perplexity = n > 0 ? expOfQuotient(nats, n) : null;
    }
    out.push(figures);
  }

  return {
    sequences: out,
    state: {
      sequences,
      sum,
      bytes: bytes === null ? null : byteTotal,
      words: words === null ? null : wordTotal,
      perplexitySum,
      perplexityCount,
      perplexityOverflow,
    },
    nonFiniteSequence,
  };
}

/** The sum of two states (same bytes and words presence): integers added, pairs added in double-double arithmetic. */
export function mergeSequences(a: SequencesState, b: SequencesState): SequencesState {
  if ((a.bytes === null) !== (b.bytes === null) || (a.words === null) !== (b.words === null)) {
    throw new RangeError('mergeSequences: bytes or words are in one state only');
  }
  const perplexitySum = addPairs(a.perplexitySum, b.perplexitySum);
  const overflow = a.perplexityOverflow || b.perplexityOverflow || !Number.isFinite(perplexitySum[0]);
  return {
    sequences: a.sequences + b.sequences,
    sum: addPairs(a.sum, b.sum),
    bytes: a.bytes === null ? null : a.bytes + b.bytes!,
    words: a.words === null ? null : a.words + b.words!,
    perplexitySum: Number.isFinite(perplexitySum[0]) ? perplexitySum : [0, 0], // the mean is null then
    perplexityCount: a.perplexityCount + b.perplexityCount,
    perplexityOverflow: overflow,
  };
}

/**
 * The batch figures of a state: mean_sequence_perplexity = Σ perplexity / count; bits_per_byte = Σ sum / (Σ bytes ·
 * ln 2), byte_perplexity = e^(Σ sum / Σ bytes) = 2^bits_per_byte, word_perplexity = e^(Σ sum / Σ words), from the
 * exact pairs and totals.
 */
export function sequencesFigures(state: SequencesState): SequencesFigures {
  const figures: SequencesFigures = {
    mean_sequence_perplexity:
      state.perplexityOverflow || state.perplexityCount === 0
        ? null
        : finiteOrNull(quotient(state.perplexitySum, state.perplexityCount)),
  };
  if (state.bytes !== null) {
    figures.bits_per_byte = state.bytes > 0 ? bitsPer(state.sum, state.bytes) : null;
    figures.byte_perplexity = state.bytes > 0 ? expOfQuotient(state.sum, state.bytes) : null;
  }
  if (state.words !== null) figures.word_perplexity = state.words > 0 ? expOfQuotient(state.sum, state.words) : null;
  return figures;
}

const EMPTY = new Float64Array(0);

/** (sum in nats) / (n · ln 2): the quotient of the pair, then one division by ln 2. */
function bitsPer(nats: Pair, n: number): number {
  const [q, correction] = quotientParts(nats, n);
  return (q + correction) / Math.LN2;
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crossEntropyRows } from '../../src/kernel/crossEntropy.js';
import { evaluate } from '../../src/kernel/evaluate.js';
import {
  mergeSequences,
  rowWeights,
  scoreSequences,
  sequencesFigures,
  type SequenceText,
  type SequencesState,
} from '../../src/kernel/sequences.js';
import { targetLogProbRows, targetLogProbWeights } from '../../src/kernel/targetLogProbs.js';
import type { ScoreTask, Unit } from '../../src/kernel/types.js';
import { D, exact, referenceCrossEntropy, relativeError, type ReferenceRequest } from '../reference/highPrecision.mjs';
import { sliceRows, taskOf } from './taskOf.js';

const ULP = Number.EPSILON;
const close = (a: number, b: number, tolerance: number) =>
  a === b || Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));

/** Sequences of a task, losses in nats from the loss pass. */
function sequencesOf(task: ScoreTask, n: number, text?: SequenceText) {
  return scoreSequences(crossEntropyRows(task).losses, rowWeights(task), n, task.unit, text);
}

/**
 * Two sequences of two tokens, probabilities chosen so that every loss is a multiple of ln 2:
 *   sequence 0: p = 1/2, 1/2 → losses ln 2, ln 2; sum 2 ln 2, cost ln 2, perplexity 2
 *   sequence 1: p = 1/4 and an ignored token → loss ln 4 = 2 ln 2; count 1, cost 2 ln 2, perplexity 4
 * bytes (2, 4): bits per byte 2/2 = 1 and 2/4 = 1/2, byte perplexities 2 and √2; batch 4 bits / 6 bytes = 2/3, 2^(2/3)
 * words (1, 1): word perplexities e^(2 ln 2) = 4 and e^(2 ln 2) = 4; batch e^(4 ln 2 / 2) = 4
 * mean sequence perplexity (2 + 4)/2 = 3, while the corpus perplexity is e^(4 ln 2 / 3) = 2^(4/3).
 */
const HAND: ReferenceRequest = {
  kind: 'probabilities',
  input: [[0.5, 0.5], [0.5, 0.5], [0.25, 0.75], [0.5, 0.5]],
  labels: [0, 1, 0, -100],
};
const HAND_TEXT: SequenceText = { bytes: [2, 4], words: [1, 1] };

describe('sequences - values derived by hand', () => {
  it('two sequences of two tokens - per-sequence sum, count, cost, perplexity and text figures', () => {
    const { sequences, state, nonFiniteSequence } = sequencesOf(taskOf(HAND), 2, HAND_TEXT);
    expect(nonFiniteSequence).toBe(-1);
    expect(sequences[0]).toEqual({
      sum: 2 * Math.LN2,
      count: 2,
      total_weight: 2,
      cost: Math.LN2,
      perplexity: 2,
      bits_per_byte: 1,
      byte_perplexity: 2,
      word_perplexity: 4,
    });
    const s1 = sequences[1]!;
    expect([s1.sum, s1.count, s1.total_weight, s1.cost, s1.bits_per_byte]).toEqual([2 * Math.LN2, 1, 1, 2 * Math.LN2, 0.5]);
    expect(close(s1.perplexity!, 4, ULP)).toBe(true);
    expect(close(s1.byte_perplexity!, Math.SQRT2, ULP)).toBe(true);
    expect(close(s1.word_perplexity!, 4, ULP)).toBe(true);
    const figures = sequencesFigures(state);
    expect(close(figures.mean_sequence_perplexity!, 3, ULP)).toBe(true);
    expect(close(figures.bits_per_byte!, 2 / 3, ULP)).toBe(true);
    expect(close(figures.byte_perplexity!, 2 ** (2 / 3), 2 * ULP)).toBe(true);
    expect(close(figures.word_perplexity!, 4, ULP)).toBe(true);
  });

  it('batch text figures come from the exact sums - not the mean of the per-sequence figures', () => {
    const { sequences, state } = sequencesOf(taskOf(HAND), 2, HAND_TEXT);
    const meanOfMeans = (sequences[0]!.bits_per_byte! + sequences[1]!.bits_per_byte!) / 2; // 3/4
    expect(meanOfMeans).toBe(0.75);
    expect(sequencesFigures(state).bits_per_byte).not.toBe(meanOfMeans);
  });

  it('bits - sum and cost in bits, perplexities and bits per byte unchanged', () => {
    const task = { ...taskOf(HAND), unit: 'bits' as Unit };
    const [s0] = sequencesOf(task, 2, HAND_TEXT).sequences;
    expect(s0!.sum).toBe(2);
    expect(s0!.cost).toBe(1);
    expect(s0!.perplexity).toBe(2);
    expect(s0!.bits_per_byte).toBe(1);
  });

  it('a sequence where nothing counts - cost and every text figure null, left out of the batch figures', () => {
    const r: ReferenceRequest = { kind: 'probabilities', input: [[0.5, 0.5], [0.5, 0.5], [0.25, 0.75], [0.25, 0.75]], labels: [0, 1, -100, -100] };
    const { sequences, state } = sequencesOf(taskOf(r), 2, { bytes: [2, 100], words: [1, 50] });
    expect(sequences[1]).toEqual({
      sum: 0,
      count: 0,
      total_weight: 0,
      cost: null,
      perplexity: null,
      bits_per_byte: null,
      byte_perplexity: null,
      word_perplexity: null,
    });
    expect(state.bytes).toBe(2); // only the sequences that count a token
    const figures = sequencesFigures(state);
    expect(figures.mean_sequence_perplexity).toBe(2);
    expect(figures.bits_per_byte).toBe(1);
    expect(figures.word_perplexity).toBe(4);
  });

  it('zero bytes or words - that figure is null, the others stand', () => {
    const { sequences, state } = sequencesOf(taskOf(HAND), 2, { bytes: [0, 0], words: null });
    expect(sequences[0]!.bits_per_byte).toBeNull();
    expect(sequences[0]!.byte_perplexity).toBeNull();
    expect(sequences[0]!.word_perplexity).toBeUndefined();
    expect(sequencesFigures(state)).toEqual({ mean_sequence_perplexity: sequencesFigures(state).mean_sequence_perplexity, bits_per_byte: null, byte_perplexity: null });
  });

  it('class weights - total weight is Σ w of the labels counted, cost divides by it', () => {
    // sequence 0: labels 0, 1 with weights 3, 1: sum 3 ln 2 + ln 2, total weight 4, cost ln 2
    const r: ReferenceRequest = { ...HAND, classWeights: [3, 1] };
    const [s0] = sequencesOf(taskOf(r), 2).sequences;
    expect(s0!.total_weight).toBe(4);
    expect(s0!.sum).toBe(4 * Math.LN2);
    expect(s0!.cost).toBe(Math.LN2);
  });

  it('soft targets - every token counts with weight 1', () => {
    const r: ReferenceRequest = { kind: 'logits', input: [[0, 0], [1, 2], [3, 0]], targets: [[1, 0], [0.5, 0.5], [0, 1]] };
    const { sequences } = sequencesOf(taskOf(r), 3);
    expect(sequences.map((s) => [s.count, s.total_weight])).toEqual([[1, 1], [1, 1], [1, 1]]);
  });

  it('a perplexity beyond float64 - that sequence has null, and so has the mean', () => {
    const r: ReferenceRequest = { kind: 'logits', input: [[0, -800], [0, 0]], labels: [1, 0] };
    const { sequences, state } = sequencesOf(taskOf(r), 2);
    expect(sequences[0]!.cost).toBe(800 + Math.log1p(Math.exp(-800)));
    expect(sequences[0]!.perplexity).toBeNull();
    expect(sequences[1]!.perplexity).toBe(2);
    expect(sequencesFigures(state).mean_sequence_perplexity).toBeNull();
  });

  it('a cost beyond float64 from a tiny total weight - reported as the sequence that is not finite', () => {
    // Sequence 1: label 0 of weight 1e-10, smoothing spreads 1/4 onto class 1 of weight 1e10 with nl = 1e291: a loss
    // of 2.5e300 over a weight of 1e-10. The corpus divides by 1e10 more and stays finite.
    const r: ReferenceRequest = {
      kind: 'logits',
      input: [[0, 0], [0, -1e291]],
      labels: [1, 0],
      classWeights: [1e-10, 1e10],
      labelSmoothing: 0.5,
    };
    expect(evaluate(taskOf(r)).status).toBe('ok');
    const { nonFiniteSequence, sequences } = sequencesOf(taskOf(r), 2);
    expect(nonFiniteSequence).toBe(1);
    expect(sequences[0]!.cost).not.toBeNull();
  });

  it('shapes that do not divide, or bad lengths - RangeError', () => {
    const task = taskOf(HAND);
    expect(() => sequencesOf(task, 3)).toThrow(RangeError);
    expect(() => sequencesOf(task, 0)).toThrow(RangeError);
    expect(() => sequencesOf(task, 2, { bytes: [1], words: null })).toThrow(RangeError);
    expect(() => sequencesOf(task, 2, { bytes: [1, -1], words: null })).toThrow(RangeError);
    expect(() => sequencesOf(task, 2, { bytes: null, words: [1, 1.5] })).toThrow(RangeError);
  });
});

describe('sequences - target log-probabilities', () => {
  it('the same figures as the probabilities they come from, the mask in place of ignore_index', () => {
    const values = Float64Array.from([Math.log(0.5), Math.log(0.5), Math.log(0.25), -Infinity]);
    const task = { values, mask: Float64Array.from([1, 1, 1, 0]) };
    const rows = targetLogProbRows(task);
    const got = scoreSequences(rows.losses, targetLogProbWeights(task), 2, 'nats', HAND_TEXT);
    const want = sequencesOf(taskOf(HAND), 2, HAND_TEXT);
    expect(got.sequences).toEqual(want.sequences);
    expect(got.state).toEqual(want.state);
  });
});

describe('sequences - exactness', () => {
  it('one sequence reproduces the corpus figures bit for bit', () => {
    fc.assert(
      fc.property(anyRequest, (r) => {
        const task = taskOf(r);
        const e = evaluate(task);
        if (e.status !== 'ok') return;
        const [s] = sequencesOf(task, 1).sequences;
        expect(s!.sum).toBe(e.summary.sum);
        expect(s!.count).toBe(e.summary.count);
        expect(s!.total_weight).toBe(e.summary.totalWeight);
        expect(s!.cost).toBe(e.summary.cost);
        expect(s!.perplexity).toBe(e.summary.perplexity);
      }),
    );
  });

  it('per-sequence cost and perplexity within 1e-13 of the 50-digit reference, bits per byte too', () => {
    fc.assert(
      fc.property(
        anyRequest.filter((r) => r.input.length % 2 === 0),
        fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 })),
        (r, bytes) => {
          const half = r.input.length / 2;
          const { sequences } = sequencesOf(taskOf(r), 2, { bytes, words: null });
          sequences.forEach((s, i) => {
            const part = sliceRows(r, i * half, (i + 1) * half);
            const ref = referenceCrossEntropy(part);
            if (ref.count === 0 || ref.cost === null) {
              expect(s.cost).toBeNull();
              return;
            }
            expect(relativeError(s.cost!, ref.cost)).toBeLessThanOrEqual(1e-13);
            // e^cost turns the cost's absolute error into its relative error: a sum within an ulp or two (2.5e-16) allows
            // cost · 2.5e-16, which passes 1e-13 at costs above 400 (tiny class weights make such costs).
            const cost = ref.cost.toNumber();
            if (cost < 700) expect(relativeError(s.perplexity!, ref.cost.exp())).toBeLessThanOrEqual(Math.max(1e-13, 2.5e-16 * cost));
            expect(relativeError(s.bits_per_byte!, ref.sum.div(bytes[i]!).div(new D(2).ln()))).toBeLessThanOrEqual(1e-13);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a batch perplexity of e^500 per byte keeps 13 digits (the quotient is double-double)', () => {
    const r: ReferenceRequest = { kind: 'logits', input: [[0, -500.123], [0, -499.877]], labels: [1, 1] };
    const { state } = sequencesOf(taskOf(r), 2, { bytes: [1, 1], words: [1, 1] });
    const ref = referenceCrossEntropy(r);
    const want = ref.sum.div(2).exp();
    expect(relativeError(sequencesFigures(state).byte_perplexity!, want)).toBeLessThanOrEqual(1e-13);
    expect(relativeError(sequencesFigures(state).word_perplexity!, want)).toBeLessThanOrEqual(1e-13);
    expect(exact(sequencesFigures(state).bits_per_byte!).gt(700)).toBe(true);
  });

  it('merging the states of any split into whole sequences, in any order, gives the one-pass figures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((n) =>
          fc.tuple(
            fc.array(fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 3, maxLength: 3 }), { minLength: 2 * n, maxLength: 2 * n }),
            fc.array(fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constant(-100)), { minLength: 2 * n, maxLength: 2 * n }),
            fc.array(fc.nat(5000), { minLength: n, maxLength: n }),
            fc.array(fc.nat(1000), { minLength: n, maxLength: n }),
            fc.infiniteStream(fc.nat()),
          ),
        ),
        ([input, labels, bytes, words, picks]) => {
          const r: ReferenceRequest = { kind: 'logits', input, labels };
          const n = input.length / 2;
          const one = sequencesOf(taskOf(r), n, { bytes, words });
          const it = picks[Symbol.iterator]();
          let states: SequencesState[] = [];
          for (let i = 0; i < n; ) {
            const len = 1 + (it.next().value! % (n - i));
            const part = sliceRows(r, 2 * i, 2 * (i + len));
            states.push(sequencesOf(taskOf(part), len, { bytes: bytes.slice(i, i + len), words: words.slice(i, i + len) }).state);
            i += len;
          }
          while (states.length > 1) {
            const [a] = states.splice(it.next().value! % states.length, 1);
            const j = it.next().value! % states.length;
            states[j] = JSON.parse(JSON.stringify(mergeSequences(states[j]!, a!))) as SequencesState;
            states = [...states];
          }
          const merged = states[0]!;
          expect([merged.sequences, merged.bytes, merged.words, merged.perplexityCount]).toEqual([
            one.state.sequences,
            one.state.bytes,
            one.state.words,
            one.state.perplexityCount,
          ]);
          const a = sequencesFigures(one.state);
          const b = sequencesFigures(merged);
          for (const k of Object.keys(a) as (keyof typeof a)[]) {
            const x = a[k];
            const y = b[k];
            if (x === null || x === undefined) expect(y).toBe(x);
            else expect(close(x, y!, 2 * ULP), `${k}: ${x} vs ${y}`).toBe(true);
          }
        },
      ),
    );
  });

  it('states with bytes do not merge with states without', () => {
    const a = sequencesOf(taskOf(HAND), 2, HAND_TEXT).state;
    const b = sequencesOf(taskOf(HAND), 2).state;
    expect(() => mergeSequences(a, b)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------------------------

const target = fc.double({ min: 0, max: 1, noNaN: true }).filter((t) => t === 0 || t >= 1e-200);

const anyRequest: fc.Arbitrary<ReferenceRequest> = fc
  .record({ rows: fc.integer({ min: 1, max: 8 }), classes: fc.integer({ min: 1, max: 5 }) })
  .chain(({ rows, classes }) =>
    fc
      .record({
        logits: fc.array(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: classes, maxLength: classes }), {
          minLength: rows,
          maxLength: rows,
        }),
        truth: fc.constantFrom('labels', 'targets'),
        labels: fc.array(fc.oneof(fc.integer({ min: 0, max: classes - 1 }), fc.constant(-100)), { minLength: rows, maxLength: rows }),
        // Targets below 1e-200 are left out, as properties.test.ts leaves out such weights: a row whose whole target
        // mass is subnormal (say [0, 5e-324, 0]) has a loss t·nl below the normal float64 range, where no float64
        // keeps 13 digits, so its cost cannot be held to 1e-13 by any float64 evaluation.
        targets: fc.array(fc.array(target, { minLength: classes, maxLength: classes }), {
          minLength: rows,
          maxLength: rows,
        }),
        classWeights: fc.option(fc.array(fc.double({ min: 0.01, max: 10, noNaN: true }), { minLength: classes, maxLength: classes }), {
          nil: undefined,
        }),
        labelSmoothing: fc.option(fc.constantFrom(0.1, 0.5), { nil: undefined }),
      })
      .map((d) => ({
        kind: 'logits' as const,
        input: d.logits,
        ...(d.truth === 'labels' ? { labels: d.labels } : { targets: d.targets }),
        ...(d.classWeights === undefined ? {} : { classWeights: d.classWeights }),
        ...(d.labelSmoothing === undefined ? {} : { labelSmoothing: d.labelSmoothing }),
      })),
  );

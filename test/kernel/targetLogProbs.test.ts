import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/kernel/summary.js';
import { evaluate } from '../../src/kernel/evaluate.js';
import {
  findTargetLogProbProblems,
  targetLogProbRows,
  targetLogProbWeights,
} from '../../src/kernel/targetLogProbs.js';
import type { TargetLogProbTask } from '../../src/kernel/types.js';

function taskOf(values: number[], mask?: number[]): TargetLogProbTask {
  return { values: Float64Array.from(values), mask: mask === undefined ? null : Float64Array.from(mask) };
}

/** The kernel's evaluate on target log-probabilities: rows of one value, no truth. */
function evaluateTargetLogProbs(task: TargetLogProbTask, unit: 'nats' | 'bits') {
  return evaluate({
    kind: 'targetLogProbs',
    rows: task.values.length,
    classes: 1,
    input: task.values,
    labels: null,
    targets: null,
    classWeights: null,
    sampleWeights: null,
    renormalize: false,
    mask: task.mask,
    ignoreIndex: -100,
    labelSmoothing: 0,
    epsilon: 0,
    unit,
  });
}

describe('targetLogProbs - validation', () => {
  it('NaN and +Infinity are NOT_FINITE, values above 0 LOG_PROBABILITY_POSITIVE, at their flat index', () => {
    expect(findTargetLogProbProblems(taskOf([-1, NaN, 0.5, Infinity, 0, -0, 5e-324]))).toEqual([
      { kind: 'NOT_FINITE', field: 'input', index: 1, value: NaN },
      { kind: 'LOG_PROBABILITY_POSITIVE', field: 'input', index: 2, value: 0.5 },
      { kind: 'NOT_FINITE', field: 'input', index: 3, value: Infinity },
      { kind: 'LOG_PROBABILITY_POSITIVE', field: 'input', index: 6, value: 5e-324 },
    ]);
  });

  it('−Infinity is not a validation problem - it is an infinite loss where counted', () => {
    expect(findTargetLogProbProblems(taskOf([-Infinity, -1]))).toEqual([]);
  });

  it('mask values other than 0 and 1 are MASK_NOT_BINARY, after the values', () => {
    expect(findTargetLogProbProblems(taskOf([1, -1, -1, -1], [1, 2, 0.5, NaN]))).toEqual([
      { kind: 'LOG_PROBABILITY_POSITIVE', field: 'input', index: 0, value: 1 },
      { kind: 'MASK_NOT_BINARY', field: 'mask', index: 1, value: 2 },
      { kind: 'MASK_NOT_BINARY', field: 'mask', index: 2, value: 0.5 },
      { kind: 'MASK_NOT_BINARY', field: 'mask', index: 3, value: NaN },
    ]);
    expect(findTargetLogProbProblems(taskOf([-1, -1], [-0, 1]))).toEqual([]); // −0 is 0
  });

  it('masked values are checked too', () => {
    expect(findTargetLogProbProblems(taskOf([NaN], [0]))[0]!.kind).toBe('NOT_FINITE');
  });

  it('at most `limit` problems', () => {
    expect(findTargetLogProbProblems(taskOf(Array.from({ length: 50 }, () => 1)))).toHaveLength(10);
    expect(findTargetLogProbProblems(taskOf([1, 1, 1]), 2)).toHaveLength(2);
  });

  it('a mask of another length - RangeError (the codec checks shapes)', () => {
    expect(() => findTargetLogProbProblems(taskOf([-1, -1], [1]))).toThrow(RangeError);
    expect(() => targetLogProbRows(taskOf([-1], [1, 1]))).toThrow(RangeError);
  });
});

describe('targetLogProbs - losses', () => {
  it('loss = −log-probability, masked elements 0 and not counted, the total weight the count', () => {
    const rows = targetLogProbRows(taskOf([-Math.LN2, -0, -3, -1e300], [1, 1, 0, 1]));
    expect([...rows.losses]).toEqual([Math.LN2, 0, 0, 1e300]);
    expect(Object.is(rows.losses[1], 0)).toBe(true); // −(−0) is +0
    expect(rows.count).toBe(3);
    expect(rows.totalWeightHigh + rows.totalWeightLow).toBe(3);
    expect(rows.nonFiniteRow).toBe(-1);
    expect([...targetLogProbWeights(taskOf([-1, -1, -1], [1, 0, 1]))]).toEqual([1, NaN, 1]);
  });

  it('a counted −Infinity - the first is the not-finite row; a masked one is not counted', () => {
    expect(targetLogProbRows(taskOf([-1, -Infinity, -Infinity])).nonFiniteRow).toBe(1);
    expect(evaluateTargetLogProbs(taskOf([-1, -Infinity]), 'nats')).toEqual({ status: 'not-finite', row: 1 });
    const masked = evaluateTargetLogProbs(taskOf([-1, -Infinity], [1, 0]), 'nats');
    expect(masked.status === 'ok' && masked.summary.count).toBe(1);
  });

  it('the sum is compensated - 1e16 + 1 + 1 is 1e16 + 2, which plain addition rounds to 1e16', () => {
    expect(1e16 + 1 + 1).toBe(1e16);
    const s = summarize(targetLogProbRows(taskOf([-1e16, -1, -1])), 'nats')!;
    expect(s.sum).toBe(1e16 + 2);
  });

  it('evaluate - sum, cost, perplexity as for any loss; accuracy null; bits divide by ln 2', () => {
    // losses ln 2 and ln 8: sum ln 16, cost ln 4, perplexity 4; in bits 1 and 3, sum 4, cost 2
    const nats = evaluateTargetLogProbs(taskOf([-Math.LN2, -3 * Math.LN2]), 'nats');
    expect(nats.status).toBe('ok');
    if (nats.status !== 'ok') return;
    expect(nats.summary).toMatchObject({ sum: 4 * Math.LN2, cost: 2 * Math.LN2, count: 2, totalWeight: 2, accuracy: null, unit: 'nats' });
    expect(nats.summary.perplexity).toBe(4);
    const bits = evaluateTargetLogProbs(taskOf([-Math.LN2, -3 * Math.LN2]), 'bits');
    expect(bits.status === 'ok' && [...bits.summary.losses]).toEqual([1, 3]);
    expect(bits.status === 'ok' && [bits.summary.sum, bits.summary.cost]).toEqual([4, 2]);
  });

  it('everything masked - count 0, cost and perplexity null', () => {
    const e = evaluateTargetLogProbs(taskOf([-1, -2], [0, 0]), 'nats');
    expect(e.status === 'ok' && e.summary).toMatchObject({ sum: 0, count: 0, cost: null, perplexity: null, accuracy: null });
  });

  it('invalid input - the problems, before any scoring', () => {
    const e = evaluateTargetLogProbs(taskOf([0.1, -Infinity]), 'nats');
    expect(e).toEqual({ status: 'invalid', problems: [{ kind: 'LOG_PROBABILITY_POSITIVE', field: 'input', index: 0, value: 0.1 }] });
  });

  it('a loss finite in nats but not in bits - reported as not finite at its element', () => {
    expect(evaluateTargetLogProbs(taskOf([-1, -1.5e308]), 'bits')).toEqual({ status: 'not-finite', row: 1 });
  });

  it('a sum beyond float64 - reported as row −1', () => {
    expect(evaluateTargetLogProbs(taskOf([-1e308, -1e308]), 'nats')).toEqual({ status: 'not-finite', row: -1 });
  });
});

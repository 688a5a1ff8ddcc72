import { describe, expect, it } from 'vitest';
import { crossEntropyRows } from '../../src/kernel/crossEntropy.js';
import { evaluate } from '../../src/kernel/evaluate.js';
import type { ScoreSummary } from '../../src/kernel/types.js';
import { D, agrees, exact, referenceCrossEntropy, relativeError, type ReferenceRequest } from '../reference/highPrecision.mjs';
import { taskOf } from './taskOf.js';

const TOLERANCE = 1e-13;

function summaryOf(r: Parameters<typeof taskOf>[0]): ScoreSummary {
  const e = evaluate(taskOf(r));
  if (e.status !== 'ok') throw new Error(`expected a result, got ${JSON.stringify(e)}`);
  return e.summary;
}

/** Every loss and aggregate within TOLERANCE of the 40-digit reference. */
function expectExact(r: ReferenceRequest): ScoreSummary {
  const s = summaryOf(r);
  const ref = referenceCrossEntropy(r);
  ref.losses.forEach((want, i) => expect(relativeError(s.losses[i]!, want), `loss ${i}`).toBeLessThanOrEqual(TOLERANCE));
  expect(relativeError(s.sum, ref.sum)).toBeLessThanOrEqual(TOLERANCE);
  expect(relativeError(s.totalWeight, ref.totalWeight)).toBeLessThanOrEqual(TOLERANCE);
  expect(s.count).toBe(ref.count);
  if (ref.cost === null) expect(s.cost).toBeNull();
  else {
    expect(relativeError(s.cost!, ref.cost)).toBeLessThanOrEqual(TOLERANCE);
    const perplexity = ref.cost.exp();
    if (perplexity.lt(Number.MAX_VALUE)) expect(relativeError(s.perplexity!, perplexity)).toBeLessThanOrEqual(TOLERANCE);
  }
  return s;
}

describe('crossEntropy - values derived by hand', () => {
  it('two equal logits - loss is ln 2', () => {
    const s = summaryOf({ kind: 'logits', input: [[0, 0]], labels: [0] });
    expect(s.losses[0]).toBe(Math.LN2);
    expect(s.perplexity).toBe(2);
  });

  it('three tied logits - loss is ln 3 and the arg-max is the lowest index', () => {
    const s = summaryOf({ kind: 'logits', input: [[7, 7, 7], [7, 7, 7]], labels: [0, 2] });
    expect(relativeError(s.losses[0]!, new D(3).ln())).toBeLessThanOrEqual(2.5e-16); // within 1 ulp
    expect(s.accuracy).toBe(0.5);
  });

  it('one class - every loss is exactly 0', () => {
    const s = summaryOf({ kind: 'logits', input: [[123.5], [-4]], labels: [0, 0] });
    expect([...s.losses]).toEqual([0, 0]);
    expect(s.cost).toBe(0);
    expect(s.perplexity).toBe(1);
    expect(s.accuracy).toBe(1);
  });

  it('logits of ±1e300 - the loss is the exact difference 2e300 and the right class costs 0', () => {
    const s = summaryOf({ kind: 'logits', input: [[1e300, -1e300], [1e300, -1e300]], labels: [1, 0] });
    expect(s.losses[0]).toBe(2e300);
    expect(s.losses[1]).toBe(0);
    expect(s.cost).toBe(1e300);
    expect(s.perplexity).toBeNull(); // exp(1e300) is beyond float64
  });

  it('probabilities - loss is −ln p of the label', () => {
    const s = summaryOf({ kind: 'probabilities', input: [[0.25, 0.75], [0.5, 0.5]], labels: [1, 0] });
    expect(s.losses[0]).toBe(-Math.log(0.75));
    expect(s.losses[1]).toBe(Math.LN2);
  });

  it('epsilon - clips 0 and 1 to [ε, 1 − ε] before the log', () => {
    const s = summaryOf({ kind: 'probabilities', input: [[0, 1], [0, 1]], labels: [0, 1], epsilon: 1e-7 });
    expect(s.losses[0]).toBe(-Math.log(1e-7));
    expect(s.losses[1]).toBe(-Math.log(1 - 1e-7));
  });

  it('bits - every loss figure is divided by ln 2, perplexity stays exp(cost in nats)', () => {
    const s = summaryOf({ kind: 'logits', input: [[0, 0, 0, 0]], labels: [3], unit: 'bits' });
    expect(s.losses[0]).toBe(2); // ln 4 / ln 2, exactly representable
    expect(s.cost).toBe(2);
    expect(s.perplexity).toBe(4);
    expect(s.unit).toBe('bits');
  });

  it('class weights - loss is w_y·nl_y and cost divides by Σ w_y', () => {
    const s = summaryOf({ kind: 'logits', input: [[0, 0], [0, 0]], labels: [0, 1], classWeights: [3, 1] });
    expect(s.losses[0]).toBe(3 * Math.LN2);
    expect(s.losses[1]).toBe(Math.LN2);
    expect(s.totalWeight).toBe(4);
    expect(s.cost).toBe(Math.LN2);
  });

  it('ignore_index - ignored samples give 0 and are not counted; an ignored label need not be a class', () => {
    // -100 is not ignored once ignoreIndex is 99, and it is not a class
    expect(evaluate(taskOf({ kind: 'logits', input: [[0, 0]], labels: [-100], ignoreIndex: 99 })).status).toBe('invalid');
    const t = summaryOf({ kind: 'logits', input: [[0, 0], [5, 1], [1, 5]], labels: [0, 1, 99], ignoreIndex: 99 });
    expect(t.losses[2]).toBe(0);
    expect(t.count).toBe(2);
    expect(t.totalWeight).toBe(2);
  });

  it('every label ignored - cost, perplexity and accuracy are null, never NaN', () => {
    const s = summaryOf({ kind: 'logits', input: [[1, 2], [3, 4]], labels: [-100, -100] });
    expect(s.sum).toBe(0);
    expect(s.count).toBe(0);
    expect(s.cost).toBeNull();
    expect(s.perplexity).toBeNull();
    expect(s.accuracy).toBeNull();
  });

  it('all weights 0 - cost is null but the samples are counted', () => {
    const s = summaryOf({ kind: 'logits', input: [[1, 2]], labels: [1], classWeights: [0, 0] });
    expect(s.cost).toBeNull();
    expect(s.count).toBe(1);
    expect(s.accuracy).toBe(1);
  });

  it('label smoothing 1 - the loss is the mean of nl_c over the classes', () => {
    const s = summaryOf({ kind: 'logits', input: [[0, 0]], labels: [0], labelSmoothing: 1 });
    expect(s.losses[0]).toBe(Math.LN2);
  });

  it('zero target on a zero probability - contributes 0, not NaN', () => {
    const s = summaryOf({ kind: 'probabilities', input: [[0, 1]], targets: [[0, 1]] });
    expect(s.losses[0]).toBe(0);
  });

  it('soft targets - accuracy compares with the target arg-max, lowest index on ties', () => {
    const s = summaryOf({ kind: 'logits', input: [[3, 1, 0], [0, 1, 3]], targets: [[0.5, 0.5, 0], [0.2, 0.2, 0.6]] });
    expect(s.accuracy).toBe(1);
    expect(s.totalWeight).toBe(2);
  });
});

describe('crossEntropy - exactness against a 40-digit reference', () => {
  it('common offset of 1e15 with small differences - full relative precision', () => {
    expectExact({ kind: 'logits', input: [[1e15, 1e15 + 0.125, 1e15 - 0.25], [1e15 + 0.1, 1e15, 1e15 + 0.3]], labels: [0, 2] });
  });

  it('a true loss of about 1e-18 - not rounded to 0 as log(sum(exp)) − z_y would', () => {
    const r: ReferenceRequest = { kind: 'logits', input: [[0, -41.4465]], labels: [0] };
    const s = expectExact(r);
    expect(s.losses[0]).toBeGreaterThan(9e-19);
    expect(s.losses[0]).toBeLessThan(1.1e-18);
    // The naive formula loses it entirely, which is what the kernel avoids.
    expect(Math.log(Math.exp(0) + Math.exp(-41.4465)) - 0).toBe(0);
  });

  it('logits around 1e-300 and large negative logits', () => {
    expectExact({ kind: 'logits', input: [[1e-300, 0, -1e-300], [-1e5, -1e5 - 3, -2e5], [-745, 0, -700]], labels: [0, 1, 2] });
  });

  it('label smoothing with weights and ignored samples', () => {
    expectExact({
      kind: 'logits',
      input: [[2, 1, 0.1], [0.5, 2.5, 0.3], [1, 1, 1], [-3, 40, 2]],
      labels: [0, 1, -100, 2],
      classWeights: [0.2, 3, 1.5],
      labelSmoothing: 0.1,
    });
  });

  it('soft targets with weights and smoothing, logits and probabilities', () => {
    const targets = [[0.1, 0.6, 0.3], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]];
    expectExact({ kind: 'logits', input: [[2, 1, 0.1], [0.5, 2.5, 0.3], [9, -9, 0]], targets, classWeights: [1, 2, 0.5], labelSmoothing: 0.25 });
    expectExact({ kind: 'probabilities', input: [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.98, 0.01, 0.01]], targets, labelSmoothing: 0.05 });
  });

  it('probabilities near 1 and epsilon clipping', () => {
    expectExact({ kind: 'probabilities', input: [[1 - 2 ** -53, 2 ** -53], [0, 1], [1e-300, 1 - 1e-300]], labels: [0, 0, 0], epsilon: 1e-12 });
  });

  it('cost of 500 nats - the perplexity e^500 keeps 13 digits', () => {
    const s = expectExact({ kind: 'logits', input: [[0, -500.123], [0, -499.877], [0, -500.5]], labels: [1, 1, 1] });
    expect(s.perplexity).toBeGreaterThan(1e217);
  });

  it('a tiny weight times a tiny target underflows to 0, the loss does not - 1e-160 · 1e-164 · 1e300 = 1e-24', () => {
    const s = expectExact({ kind: 'logits', input: [[-1e300, 0]], targets: [[1e-164, 1]], classWeights: [1e-160, 1] });
    expect(s.losses[0]).toBeGreaterThan(0.99e-24);
    expect(1e-160 * 1e-164).toBe(0); // the partial product the plain formula would use
  });

  it('a label smoothing of 1e-320 (subnormal, so ε/C keeps 2 digits) - the loss it causes still has 13', () => {
    // The label is the arg-max, so the whole loss is (ε/3)·(0 + 2e300 + 2e300).
    const s = expectExact({ kind: 'logits', input: [[1e300, -1e300, -1e300]], labels: [0], labelSmoothing: 1e-320 });
    expect(s.losses[0]).toBeGreaterThan(1.3e-20);
  });

  it('a huge weight times a huge target overflows, the loss does not - 1e200 · 1e200 · nl', () => {
    // p = 1 on the weighted class: nl = 0 and the loss is exactly 0 (Infinity · 0 would be NaN).
    const zero = expectExact({ kind: 'probabilities', input: [[1, 0]], targets: [[1e200, 0]], classWeights: [1e200, 1] });
    expect(zero.losses[0]).toBe(0);
    // nl ≈ 3e-252 on the weighted class: a loss near 1e148.
    const s = expectExact({ kind: 'logits', input: [[0, -580]], targets: [[1e200, 0]], classWeights: [1e200, 1] });
    expect(s.losses[0]).toBeGreaterThan(1e147);
  });

  it('label smoothing over weights near the float64 limit - Σ w·nl overflows, ε/C · Σ w·nl does not', () => {
    const s = expectExact({ kind: 'logits', input: [[0, -1e10]], labels: [0], classWeights: [1e300, 1e300], labelSmoothing: 1e-20 });
    expect(s.losses[0]).toBeGreaterThan(1e289);
  });

  it('a label smoothing whose ε/C is subnormal, with soft targets - applied once per row, exactly', () => {
    expectExact({
      kind: 'logits',
      input: [[1e300, -1e300, 0], [3, 1, 2]],
      targets: [[1, 0, 0], [0.25, 0.5, 0.25]],
      classWeights: [1, 2, 0.5],
      labelSmoothing: 1e-310,
    });
  });

  it('a loss below the normal range (fast-check counterexample) - the nearest subnormal, not 0', () => {
    const r: ReferenceRequest = {
      kind: 'logits',
      input: [[0, 0, 711.9321775322595]],
      targets: [[2.2461636462123246e-258, 0, 1]],
      classWeights: [8.378643074023146e-67, 0, 0],
    };
    const s = summaryOf(r);
    const want = referenceCrossEntropy(r).losses[0]!;
    expect(want.toNumber()).toBeGreaterThan(1e-321);
    expect(agrees(s.losses[0]!, want, TOLERANCE)).toBe(true);
    expect(Math.abs(s.losses[0]! - want.toNumber())).toBeLessThanOrEqual(Number.MIN_VALUE);
  });

  it('a vocabulary of 250 000 classes', () => {
    // 64 distinct logit values repeated, so the 40-digit reference needs 64 exponentials, not 250 000.
    const values = Array.from({ length: 64 }, (_, i) => Math.sin(i * 12.9898) * 6);
    let seed = 7;
    const next = () => (seed = (seed * 16807) % 2147483647);
    const row = Array.from({ length: 250_000 }, () => values[next() % 64]!);
    const label = 123_456;
    const s = summaryOf({ kind: 'logits', input: [row], labels: [label] });
    const counts = new Map<number, number>();
    for (const v of row) counts.set(v, (counts.get(v) ?? 0) + 1);
    const m = exact(Math.max(...values));
    let sum = new D(0);
    for (const [v, n] of counts) sum = sum.plus(exact(v).minus(m).exp().mul(n));
    const want = m.plus(sum.ln()).minus(exact(row[label]!));
    expect(relativeError(s.losses[0]!, want)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('crossEntropy - results that are not finite', () => {
  it('zero probability on the label without epsilon - reports the sample', () => {
    expect(evaluate(taskOf({ kind: 'probabilities', input: [[0.5, 0.5], [1, 0]], labels: [0, 1] }))).toEqual({ status: 'not-finite', row: 1 });
  });

  it('a loss above the float64 range - reports the sample', () => {
    const e = evaluate(taskOf({ kind: 'logits', input: [[0, 0], [1.5e308, -1.5e308]], labels: [0, 1] }));
    expect(e).toEqual({ status: 'not-finite', row: 1 });
  });

  it('a sum above the float64 range - reports the sum (row -1)', () => {
    const e = evaluate(taskOf({ kind: 'logits', input: [[1e308, -1e308 / 2], [1e308, -1e308 / 2]], labels: [1, 1] }));
    expect(e).toEqual({ status: 'not-finite', row: -1 });
  });

  it('a loss finite in nats but not in bits - reports the sample', () => {
    const e = evaluate(taskOf({ kind: 'logits', input: [[1e308, -5e307]], labels: [1], unit: 'bits' }));
    expect(e).toEqual({ status: 'not-finite', row: 0 });
  });
});

describe('crossEntropy - masked classes (-Infinity logits)', () => {
  it('a masked class gets probability 0 and costs nothing when not the label', () => {
    const rows = crossEntropyRows(taskOf({ kind: 'logits', input: [[0, -Infinity, 0]], labels: [0] }));
    expect(rows.losses[0]).toBe(Math.LN2);
  });

  it('a label on a masked class is an input problem, not an infinite loss', () => {
    const e = evaluate(taskOf({ kind: 'logits', input: [[0, -Infinity]], labels: [1] }));
    expect(e.status === 'invalid' && e.problems[0]!.kind).toBe('LABEL_ON_MASKED_CLASS');
  });

  it('smoothing puts weight on a masked class - the loss is not finite', () => {
    const e = evaluate(taskOf({ kind: 'logits', input: [[0, -Infinity]], labels: [0], labelSmoothing: 0.1 }));
    expect(e).toEqual({ status: 'not-finite', row: 0 });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/kernel/evaluate.js';
import type { ScoreSummary } from '../../src/kernel/types.js';
import { agrees, referenceCrossEntropy, type ReferenceRequest } from '../reference/highPrecision.mjs';
import { taskOf } from './taskOf.js';

function summaryOf(r: Parameters<typeof taskOf>[0]): ScoreSummary {
  const e = evaluate(taskOf(r));
  if (e.status !== 'ok') throw new Error(`expected a result, got ${JSON.stringify(e)}`);
  return e.summary;
}

const close = (a: number, b: number, tolerance: number) =>
  a === b || Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));

/** A batch of `rows` × `classes` logits that are multiples of 1/8, so shifting them by an integer is exact. */
const dyadicLogits = (rows: number, classes: number) =>
  fc.array(fc.array(fc.integer({ min: -400, max: 400 }).map((k) => k / 8), { minLength: classes, maxLength: classes }), {
    minLength: rows,
    maxLength: rows,
  });

const shape = fc.record({ rows: fc.integer({ min: 1, max: 6 }), classes: fc.integer({ min: 1, max: 7 }) });

const probabilityRow = (classes: number) =>
  fc.array(fc.double({ min: 0.001, max: 1, noNaN: true }), { minLength: classes, maxLength: classes }).map((xs) => {
    const total = xs.reduce((a, b) => a + b, 0);
    return xs.map((x) => x / total);
  });

const softRow = (classes: number) =>
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: classes, maxLength: classes }).map((xs) => {
    const total = xs.reduce((a, b) => a + b, 0);
    return total === 0 ? xs.map((_, i) => (i === 0 ? 1 : 0)) : xs.map((x) => x / total);
  });

const weight = fc.double({ min: 0, max: 10, noNaN: true }).filter((w) => w === 0 || w >= 1e-200);

/** Any valid request over small shapes, every option drawn. */
const anyRequest: fc.Arbitrary<ReferenceRequest> = shape.chain(({ rows, classes }) =>
  fc
    .record({
      kind: fc.constantFrom<'logits' | 'probabilities'>('logits', 'probabilities'),
      logits: fc.array(fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: classes, maxLength: classes }), {
        minLength: rows,
        maxLength: rows,
      }),
      probabilities: fc.array(probabilityRow(classes), { minLength: rows, maxLength: rows }),
      truth: fc.constantFrom('labels', 'targets'),
      labels: fc.array(fc.oneof(fc.integer({ min: 0, max: classes - 1 }), fc.constant(-100)), { minLength: rows, maxLength: rows }),
      targets: fc.array(softRow(classes), { minLength: rows, maxLength: rows }),
      // Weights below 1e-200 are left out: w·loss could fall below the normal float64 range, where no float64 keeps 13 digits.
      classWeights: fc.option(fc.array(weight, { minLength: classes, maxLength: classes }), { nil: undefined }),
      labelSmoothing: fc.option(fc.constantFrom(0.1, 0.5, 1, 0.0123), { nil: undefined }),
      epsilon: fc.option(fc.constantFrom(1e-7, 1e-3), { nil: undefined }),
    })
    .map((d) => ({
      kind: d.kind,
      input: d.kind === 'logits' ? d.logits : d.probabilities,
      ...(d.truth === 'labels' ? { labels: d.labels } : { targets: d.targets }),
      ...(d.classWeights === undefined ? {} : { classWeights: d.classWeights }),
      ...(d.labelSmoothing === undefined ? {} : { labelSmoothing: d.labelSmoothing }),
      ...(d.kind === 'probabilities' && d.epsilon !== undefined ? { epsilon: d.epsilon } : {}),
    })),
);

describe('crossEntropy - properties', () => {
  it('matches the 40-digit reference within 1e-13 on any valid request', () => {
    fc.assert(
      fc.property(anyRequest, (r) => {
        const s = summaryOf(r);
        const ref = referenceCrossEntropy(r);
        ref.losses.forEach((want, i) => expect(agrees(s.losses[i]!, want, 1e-13), `loss ${i}`).toBe(true));
        expect(agrees(s.sum, ref.sum, 1e-13), 'sum').toBe(true);
        if (ref.cost === null) expect(s.cost).toBeNull();
        else expect(agrees(s.cost!, ref.cost, 1e-13), 'cost').toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('shifting every logit of a row by a constant changes nothing, bit for bit', () => {
    fc.assert(
      fc.property(
        shape.chain(({ rows, classes }) =>
          fc.tuple(dyadicLogits(rows, classes), fc.array(fc.integer({ min: 0, max: classes - 1 }), { minLength: rows, maxLength: rows })),
        ),
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        ([logits, labels], shift) => {
          const a = summaryOf({ kind: 'logits', input: logits, labels });
          const b = summaryOf({ kind: 'logits', input: logits.map((row) => row.map((z) => z + shift)), labels });
          expect([...b.losses]).toEqual([...a.losses]);
          expect(b.cost).toBe(a.cost);
        },
      ),
    );
  });

  it('one-hot targets give the same losses as index labels', () => {
    fc.assert(
      fc.property(
        anyRequest.filter((r) => r.labels !== undefined && r.labels.every((y) => y >= 0)),
        (r) => {
          const C = r.input[0]!.length;
          const targets = r.labels!.map((y) => Array.from({ length: C }, (_, c) => (c === y ? 1 : 0)));
          const { labels: _labels, ...rest } = r;
          const a = summaryOf(r);
          const b = summaryOf({ ...rest, targets });
          a.losses.forEach((x, i) => expect(close(b.losses[i]!, x, 1e-14)).toBe(true));
          if (r.classWeights === undefined) expect(close(b.cost!, a.cost!, 1e-14)).toBe(true);
        },
      ),
    );
  });

  it('cross-entropy is entropy plus KL divergence, hence at least the entropy', () => {
    fc.assert(
      fc.property(
        shape.chain(({ rows, classes }) =>
          fc.tuple(fc.array(probabilityRow(classes), { minLength: rows, maxLength: rows }), fc.array(softRow(classes), { minLength: rows, maxLength: rows })),
        ),
        ([q, t]) => {
          const s = summaryOf({ kind: 'probabilities', input: q, targets: t });
          t.forEach((row, i) => {
            let entropy = 0;
            let kl = 0;
            row.forEach((tc, c) => {
              if (tc === 0) return;
              entropy -= tc * Math.log(tc);
              kl += tc * Math.log(tc / q[i]![c]!);
            });
            expect(s.losses[i]!).toBeGreaterThanOrEqual(entropy - 1e-12);
            expect(Math.abs(s.losses[i]! - (entropy + kl))).toBeLessThanOrEqual(1e-12 * Math.max(1, s.losses[i]!));
          });
        },
      ),
    );
  });

  it('permuting the classes together with labels and weights changes nothing', () => {
    fc.assert(
      fc.property(
        anyRequest.chain((r) => fc.tuple(fc.constant(r), fc.shuffledSubarray([...r.input[0]!.keys()], { minLength: r.input[0]!.length }))),
        ([r, perm]) => {
          // new class j is old class perm[j]
          const inverse: number[] = [];
          perm.forEach((old, j) => (inverse[old] = j));
          const permuted: ReferenceRequest = {
            ...r,
            input: r.input.map((row) => perm.map((old) => row[old]!)),
            ...(r.labels === undefined ? {} : { labels: r.labels.map((y) => (y < 0 ? y : inverse[y]!)) }),
            ...(r.targets === undefined ? {} : { targets: r.targets.map((row) => perm.map((old) => row[old]!)) }),
            ...(r.classWeights === undefined ? {} : { classWeights: perm.map((old) => r.classWeights![old]!) }),
          };
          const a = summaryOf(r);
          const b = summaryOf(permuted);
          a.losses.forEach((x, i) => expect(close(b.losses[i]!, x, 1e-14)).toBe(true));
          expect(close(b.sum, a.sum, 1e-14)).toBe(true);
        },
      ),
    );
  });

  it('bits are nats divided by ln 2', () => {
    fc.assert(
      fc.property(anyRequest, (r) => {
        const nats = summaryOf(r);
        const bits = summaryOf({ ...r, unit: 'bits' } as ReferenceRequest);
        nats.losses.forEach((x, i) => expect(close(bits.losses[i]! * Math.LN2, x, 4e-16)).toBe(true));
        expect(close(bits.sum * Math.LN2, nats.sum, 4e-16)).toBe(true);
        expect(bits.perplexity).toBe(nats.perplexity);
        expect(bits.totalWeight).toBe(nats.totalWeight);
      }),
    );
  });
});

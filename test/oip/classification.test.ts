import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBytesTensor, topClasses } from '../../src/codec/oip/classification.js';

/** The reference: every class of the row sorted by value, highest first, ties by lower index; the first k kept. */
function reference(row: number[], k: number): string[] {
  return row
    .map((v, c) => [v, c] as const)
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : b[0] - a[0]))
    .slice(0, k)
    .map(([v, c]) => `${v}:${c}`);
}

describe('topClasses - the k highest-valued classes of each sample', () => {
  it('the example of Triton\'s classification extension - [1.1, 3.3, 0.5, 2.4], k = 2: "3.3:1", "2.4:3"', () => {
    expect(topClasses(Float64Array.of(1.1, 3.3, 0.5, 2.4), 1, 4, 2)).toEqual(['3.3:1', '2.4:3']);
  });

  it('ties - the lower index first; -Infinity (a masked logit) last; k above C - clamped to C', () => {
    expect(topClasses(Float64Array.of(1, -Infinity, 1, 0), 1, 4, 9)).toEqual(['1:0', '1:2', '0:3', '-Infinity:1']);
  });

  it('random rows, small and large k (insertion and full sort) - equal the reference, row after row', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 90 }),
        fc.array(fc.constantFrom(-2, -1, 0, 0.5, 1, 3, -Infinity), { minLength: 400, maxLength: 400 }),
        (rows, classes, k, pool) => {
          const values = Float64Array.from({ length: rows * classes }, (_, i) => pool[i % pool.length]!);
          const expected = Array.from({ length: rows }, (_, r) => reference(Array.from(values.subarray(r * classes, (r + 1) * classes)), k)).flat();
          expect(topClasses(values, rows, classes, k)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('encodeBytesTensor - Triton\'s binary BYTES elements', () => {
  it('each string as a little-endian uint32 length, then its UTF-8 bytes', () => {
    expect(encodeBytesTensor(['2:0', '', 'é:1']).toString('hex')).toBe(
      '03000000' + Buffer.from('2:0').toString('hex') + '00000000' + '04000000' + Buffer.from('é:1').toString('hex'),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MIN_NORMAL } from '../../src/kernel/float64.js';
import { productOf } from '../../src/kernel/product.js';
import { exact } from '../reference/highPrecision.mjs';

const ULP = 2 ** -52;

/** productOf against the exact product: within 2 ulp when normal, within one subnormal step below. */
function expectClose(factors: [number, number, number, number]) {
  const got = productOf(...factors);
  const want = factors.reduce((p, x) => p.mul(exact(x)), exact(1));
  if (want.gte(Number.MAX_VALUE)) {
    expect(got === Infinity || Math.abs(got / want.toNumber() - 1) <= 2 * ULP).toBe(true);
  } else if (want.gte(MIN_NORMAL)) {
    expect(exact(got).minus(want).abs().div(want).toNumber()).toBeLessThanOrEqual(2 * ULP);
  } else {
    expect(exact(got).minus(want).abs().lte(Number.MIN_VALUE)).toBe(true);
  }
}

describe('productOf - products whose partial products leave the float64 range', () => {
  it('by hand: zeros, infinities, and partial products that underflow or overflow', () => {
    expect(productOf(0, Infinity, 1)).toBe(0); // a zero factor wins, as a zero coefficient does in the kernel
    expect(productOf(1e-300, Infinity, 1)).toBe(Infinity);
    expect(productOf(2 ** -600, 2 ** -600, 2 ** 1000)).toBe(2 ** -200);
    expect(productOf(2 ** 600, 2 ** 600, 2 ** -1000)).toBe(2 ** 200);
    expect(productOf(Number.MIN_VALUE, 2 ** 1000, 2 ** 70)).toBe(2 ** -4);
    expect(productOf(2 ** -1000, 2 ** -74, 1)).toBe(Number.MIN_VALUE);
    expect(productOf(2 ** -1000, 2 ** -76, 1)).toBe(0); // a quarter of the smallest subnormal rounds to 0
    expect(productOf(2 ** 1000, 2 ** 24, 1)).toBe(Infinity);
    expect(productOf(NaN, 1, 1)).toBeNaN();
    expect(productOf(-1, 1, 1)).toBeNaN();
  });

  it('any positive finite factors - within 2 ulp of the exact product (one subnormal step below the normal range)', () => {
    const factor = fc.double({ min: Number.MIN_VALUE, max: Number.MAX_VALUE, noNaN: true });
    fc.assert(fc.property(factor, factor, factor, factor, (a, b, c, d) => expectClose([a, b, c, d])), { numRuns: 2000 });
  });
});

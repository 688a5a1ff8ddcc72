// The tests' one seeded PRNG, shared by the TypeScript tests and the fixture generator (plain JavaScript), so every
// run tests and generates the same numbers.

/** mulberry32 (Tommy Ettinger, 2017): a small 32-bit PRNG with a full period; uniform numbers in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

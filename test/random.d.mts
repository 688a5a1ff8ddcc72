/** mulberry32: a small seeded PRNG; uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number;

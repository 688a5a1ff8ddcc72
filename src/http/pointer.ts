/** RFC 6901 escaping of one reference token. */
export function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The JSON pointer of `field` followed by array indices. */
export function pointerTo(field: string, indices: readonly number[] = []): string {
  let p = `/${escapeToken(field)}`;
  for (const i of indices) p += `/${i}`;
  return p;
}

/** Multi-index of a flat row-major position in an array of the given shape. */
export function unflatten(flat: number, shape: readonly number[]): number[] {
  const indices = new Array<number>(shape.length);
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    indices[d] = rest % size;
    rest = Math.floor(rest / size);
  }
  return indices;
}

/** RFC 6901 escaping of one reference token. */
export function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Object keys up to this length are echoed in pointers; a longer key is named by its parent's pointer instead. */
export const MAX_ECHOED_KEY = 64;

/**
 * The pointer of the member `key` of the object at `parent`, or `parent` itself when the key is too long to echo
 * (an unknown field's name can be as long as the body; answers never carry more than a bounded excerpt of it).
 */
export function memberPointer(parent: string, key: string): string {
  return key.length <= MAX_ECHOED_KEY ? `${parent}/${escapeToken(key)}` : parent;
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

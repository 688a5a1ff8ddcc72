/**
 * Bounded text for answers: a request can hold megabytes of keys, strings or path, and an answer never carries more
 * than a short excerpt of any of it.
 */

/** `s` cut to at most `max` characters, with an ellipsis when cut. */
export function excerpt(s: string, max = 40): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/** Longest message of a parser, or path of a URL, that an answer repeats. */
export const MAX_ECHOED_TEXT = 200;

/** A parser's message or a request path cut to MAX_ECHOED_TEXT characters. */
export function cut(s: string): string {
  return excerpt(s, MAX_ECHOED_TEXT);
}

/** A short description of a JSON value for error messages; never more than a bounded excerpt of it. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return `a string ("${excerpt(v)}")`;
    case 'number':
    case 'boolean':
      return `a ${typeof v} (${v})`;
    case 'object':
      return looksLikeTypedArray(v as object)
        ? 'an object with numeric keys ("0", "1", …), which is what JSON.stringify makes of a typed array: send Array.from(values)'
        : 'an object';
    default:
      return typeof v;
  }
}

/** Whether an object's first keys are "0", "1", … : JSON.stringify(new Float32Array(...)) writes such an object. */
function looksLikeTypedArray(o: object): boolean {
  let i = 0;
  for (const key in o) {
    if (key !== String(i)) return false;
    if (++i === 3) break;
  }
  return i > 0;
}

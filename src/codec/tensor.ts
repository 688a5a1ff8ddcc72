import { MAX_ISSUES, ProblemError, type ErrorCode, type Issue } from './problems.js';
import { pointerTo, unflatten } from './pointer.js';
import { describe } from './text.js';

/** A tensor's values, row-major, and its shape. */
export interface Tensor {
  data: Float64Array;
  shape: number[];
}

/** Tensors have at most this many dimensions (NumPy allows 64, PyTorch 25 on CUDA); deeper nesting is rejected. */
export const MAX_DIMENSIONS = 32;

/**
 * Most numbers JSON text of this many bytes can hold: each takes a digit and a separator. A tensor shape promising
 * more (read from the first element at each depth, or declared) is ragged or lies, so decoders allocate no more than
 * this for it and let the walk over the values report what is missing.
 */
export function maxJsonNumbers(bytes: number): number {
  return Math.ceil(bytes / 2);
}

/** The number of elements of a shape. */
export function elementsOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** How one element of a JSON tensor becomes a float64: a JSON number as is, or a value of a wire datatype. */
export interface ElementReader {
  /** The element's value, or NaN when it is not acceptable (no acceptable value is NaN). */
  value(x: unknown): number;
  /** Why `x` is not acceptable, for the issue at its pointer. */
  problem(x: unknown): { code: ErrorCode; detail: string };
}

/** JSON numbers as they are: finite float64 values (JSON.parse gives ±Infinity for a number beyond the range). */
export const JSON_NUMBER: ElementReader = {
  value: (x) => (typeof x === 'number' && x - x === 0 ? x : NaN),
  problem: (x) =>
    typeof x === 'number'
      ? { code: 'XENT_NUMBER_OUT_OF_RANGE', detail: 'the number is outside the float64 range' }
      : { code: 'XENT_INVALID_NUMBER', detail: `expected a number, got ${describe(x)}` },
};

/** What an empty dimension is called in an answer; `rank` is null when the shape is still being read. */
function emptyDimension(axis: number, rank: number | null): string {
  const what = axis === 0 ? 'the batch is empty' : rank !== null && axis === rank - 1 ? 'no classes' : 'an empty dimension';
  return `${what}: every dimension needs at least one entry`;
}

/**
 * The shape of a nested-array tensor, read from the first element at every depth: at least two dimensions, none of
 * them empty, at most MAX_DIMENSIONS. Null, with the issue, when it is not one.
 */
export function inferShape(value: unknown, field: string, issues: Issue[], minDimensions = 2): number[] | null {
  const shape: number[] = [];
  const path: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    if (shape.length === MAX_DIMENSIONS) {
      issues.push({
        code: 'XENT_INVALID_SHAPE',
        pointer: pointerTo(field),
        detail: `more than ${MAX_DIMENSIONS} dimensions: the arrays are nested too deep`,
      });
      return null;
    }
    shape.push(v.length);
    if (v.length === 0) {
      issues.push({ code: 'XENT_EMPTY_INPUT', pointer: pointerTo(field, path), detail: emptyDimension(shape.length - 1, null) });
      return null;
    }
    v = v[0];
    path.push(0);
  }
  if (shape.length < minDimensions) {
    issues.push({
      code: 'XENT_INVALID_SHAPE',
      pointer: pointerTo(field),
      detail: minDimensions === 1 ? `expected an array (nested to any depth) of numbers, got ${describe(value)}` : `expected nested arrays of at least 2 dimensions [N][C], got ${shape.length === 0 ? describe(value) : typeof v === 'object' && v !== null ? `an array of ${describe(v)}` : 'a flat array'}`,
    });
    return null;
  }
  return shape;
}

/**
 * The model output's shape, whichever protocol declared or implied it: at least two dimensions, none empty (an issue
 * at `dimension(axis)`, the pointer of that dimension), and at most `maxElements` numbers (else a 413 at `pointer`,
 * thrown at once: nothing is allocated for such a request).
 */
export function checkInputShape(
  shape: readonly number[],
  maxElements: number,
  pointer: string,
  dimension: (axis: number) => string,
  issues: Issue[],
): void {
  const empty = shape.indexOf(0);
  if (empty >= 0) {
    issues.push({ code: 'XENT_EMPTY_INPUT', pointer: dimension(empty), detail: emptyDimension(empty, shape.length) });
    return;
  }
  const elements = elementsOf(shape);
  if (elements > maxElements) {
    throw ProblemError.of('XENT_TOO_MANY_ELEMENTS', pointer, `${elements} numbers (shape [${shape.join(', ')}]) exceed the limit of ${maxElements}`);
  }
}

/**
 * The one walk over nested JSON arrays: reads a tensor of the given shape into a Float64Array in one pass, row-major,
 * each element through `reader`. Every deviation (an array of another length, a value where an array belongs, an
 * element the reader refuses) is an issue at its JSON pointer under `field`; a wrong subarray is skipped whole, and the
 * walk stops at MAX_ISSUES. At most `capacity` numbers are allocated (what the body can hold): a shape promising more
 * is then found ragged by the walk, and writes past the end fall off. Null when any issue was found.
 */
export function readNestedTensor(
  value: unknown,
  shape: readonly number[],
  field: string,
  reader: ElementReader,
  capacity: number,
  issues: Issue[],
): Float64Array | null {
  const before = issues.length;
  const elements = elementsOf(shape);
  const data = new Float64Array(Math.min(elements, capacity));
  const path: number[] = [];
  const last = shape.length - 1;
  let offset = 0;

  const walk = (v: unknown, depth: number): void => {
    const size = shape[depth]!;
    if (!Array.isArray(v) || v.length !== size) {
      const got = Array.isArray(v) ? `an array of length ${v.length}` : describe(v);
      issues.push({
        code: 'XENT_INVALID_SHAPE',
        pointer: pointerTo(field, path),
        detail: `expected an array of length ${size} (shape [${shape.join(', ')}]), got ${got}`,
      });
      offset += elementsOf(shape.slice(depth));
      return;
    }
    if (depth === last) {
      for (let i = 0; i < size && issues.length < MAX_ISSUES; i++) {
        const x = reader.value(v[i]);
        if (x === x) {
          data[offset++] = x;
          continue;
        }
        offset++;
        path.push(i);
        issues.push({ ...reader.problem(v[i]), pointer: pointerTo(field, path) });
        path.pop();
      }
      return;
    }
    for (let i = 0; i < size && issues.length < MAX_ISSUES; i++) {
      path.push(i);
      walk(v[i], depth + 1);
      path.pop();
    }
  };
  walk(value, 0);
  if (issues.length > before) return null;
  assertComplete(data, elements, capacity);
  return data;
}

/**
 * A tensor given flat (row-major) as one JSON array of exactly the shape's number of elements, each through `reader`;
 * a refused element is an issue at the pointer of its place in the shape. Null when any issue was found.
 */
export function readFlatTensor(
  values: readonly unknown[],
  shape: readonly number[],
  field: string,
  reader: ElementReader,
  capacity: number,
  issues: Issue[],
): Float64Array | null {
  const before = issues.length;
  const elements = elementsOf(shape);
  const data = new Float64Array(Math.min(elements, capacity));
  for (let i = 0; i < elements && issues.length < MAX_ISSUES; i++) {
    const x = reader.value(values[i]);
    if (x === x) data[i] = x;
    else issues.push({ ...reader.problem(values[i]), pointer: pointerTo(field, unflatten(i, shape)) });
  }
  if (issues.length > before) return null;
  assertComplete(data, elements, capacity);
  return data;
}

/**
 * A walk without issues has read every element, so the array, capped at what the body can hold, held them all: the
 * body cannot hold fewer numbers than it contains.
 */
function assertComplete(data: Float64Array, elements: number, capacity: number): void {
  if (data.length !== elements) throw new Error(`unreachable: ${elements} numbers read from a body that holds at most ${capacity}`);
}

import type { InputKind, ScoreTask } from '../kernel/types.js';
import { ProblemError, type Issue } from './errors.js';
import { memberPointer, pointerTo } from './pointer.js';
import { scoreOptionsSchema, scoreRequestSchema } from './schemas.js';

/** At most this many issues are reported for one request. */
export const MAX_ISSUES = 10;
/** Tensors have at most this many dimensions (NumPy allows 64, PyTorch 25 on CUDA); deeper nesting is rejected. */
export const MAX_DIMENSIONS = 32;

const KNOWN_FIELDS = new Set(Object.keys(scoreRequestSchema.shape));
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface DecodedScoreRequest {
  task: ScoreTask;
  /** Shape of the input tensor, class dimension last. */
  shape: number[];
  inputField: InputKind;
  truthField: 'labels' | 'targets';
}

export interface DecodeLimits {
  /** Most numbers the input tensor may hold (samples × classes). */
  maxElements: number;
  /**
   * Length of the JSON text the body was parsed from, when known. It holds at most half as many numbers as bytes, so
   * a shape promising more (read from the first element at each depth) is ragged: that is found by the walk over the
   * values, without first allocating what the shape promised.
   */
  bodyBytes?: number;
}

/**
 * A parsed JSON body of POST /loss or /cost, checked and turned into the kernel's task: typed arrays in row-major
 * order plus the options. Throws a ProblemError listing what is wrong, each issue with the JSON pointer of its place.
 * Value-domain checks (probability ranges, label ranges, ...) are the kernel's, shared with every other decoder.
 */
export function decodeScoreRequest(body: unknown, limits: DecodeLimits): DecodedScoreRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw ProblemError.of('XENT_INVALID_BODY', '', `the body must be a JSON object, got ${describe(body)}`);
  }
  const fields = body as Record<string, unknown>;
  const issues: Issue[] = [];

  for (const key of Object.keys(fields)) {
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({ code: 'XENT_FORBIDDEN_KEY', pointer: pointerTo(key), detail: `the key "${key}" is not allowed` });
    } else if (!KNOWN_FIELDS.has(key)) {
      const guess = closestField(key);
      issues.push({
        code: 'XENT_UNKNOWN_FIELD',
        pointer: memberPointer('', key),
        detail: `unknown field "${excerpt(key)}"${guess === null ? '' : `; did you mean "${guess}"?`}`,
      });
    }
  }

  const inputField = exactlyOne(fields, 'logits', 'probabilities', issues);
  const truthField = exactlyOne(fields, 'labels', 'targets', issues);

  const options = scoreOptionsSchema.safeParse({
    ignore_index: fields.ignore_index,
    label_smoothing: fields.label_smoothing,
    epsilon: fields.epsilon,
    unit: fields.unit,
  });
  if (!options.success) {
    for (const issue of options.error.issues) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointerTo(String(issue.path[0])), detail: issue.message });
    }
  }
  if (inputField === 'logits' && Object.hasOwn(fields, 'epsilon')) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: '/epsilon', detail: 'epsilon applies to probabilities only' });
  }
  if (truthField === 'targets' && Object.hasOwn(fields, 'ignore_index')) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: '/ignore_index', detail: 'ignore_index applies to labels only' });
  }
  throwIfAny(issues);
  if (inputField === null || truthField === null || !options.success) throw new Error('unreachable: issues were reported');

  const capacity = limits.bodyBytes === undefined ? Infinity : maxJsonNumbers(limits.bodyBytes);
  const input = readTensor(fields[inputField], inputField, null, limits.maxElements, capacity, issues);
  throwIfAny(issues);
  const shape = input!.shape;
  const classes = shape[shape.length - 1]!;
  const rowShape = shape.slice(0, -1);
  const truth = readTensor(fields[truthField], truthField, truthField === 'labels' ? rowShape : shape, Infinity, capacity, issues);
  const weights = Object.hasOwn(fields, 'class_weights')
    ? readTensor(fields.class_weights, 'class_weights', [classes], Infinity, capacity, issues)
    : null;
  throwIfAny(issues);

  const o = options.data;
  return {
    task: {
      kind: inputField,
      rows: input!.data.length / classes,
      classes,
      input: input!.data,
      labels: truthField === 'labels' ? truth!.data : null,
      targets: truthField === 'targets' ? truth!.data : null,
      classWeights: weights === null ? null : weights.data,
      ignoreIndex: o.ignore_index ?? -100,
      labelSmoothing: o.label_smoothing ?? 0,
      epsilon: o.epsilon ?? 0,
      unit: o.unit ?? 'nats',
    },
    shape,
    inputField,
    truthField,
  };
}

function throwIfAny(issues: Issue[]): void {
  if (issues.length > 0) throw new ProblemError(issues.slice(0, MAX_ISSUES) as [Issue, ...Issue[]]);
}

function exactlyOne<A extends string, B extends string>(
  fields: Record<string, unknown>,
  a: A,
  b: B,
  issues: Issue[],
): A | B | null {
  const hasA = Object.hasOwn(fields, a);
  const hasB = Object.hasOwn(fields, b);
  if (hasA && hasB) {
    issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: `/${b}`, detail: `give either ${a} or ${b}, not both` });
    return null;
  }
  if (!hasA && !hasB) {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: '', detail: `one of ${a} or ${b} is required` });
    return null;
  }
  return hasA ? a : b;
}

interface Tensor {
  data: Float64Array;
  shape: number[];
}

/**
 * Reads nested arrays of numbers into a Float64Array in one pass. With `expected` null the shape is taken from the
 * first element at every depth and must have at least two dimensions, none of them empty; otherwise it must be
 * exactly `expected`. Every deviation (ragged rows, a number where an array belongs, a non-number, a number that
 * overflowed float64 when parsed) is an issue at its JSON pointer.
 */
function readTensor(
  value: unknown,
  field: string,
  expected: number[] | null,
  maxElements: number,
  capacity: number,
  issues: Issue[],
): Tensor | null {
  const before = issues.length;
  let shape: number[];
  if (expected === null) {
    shape = [];
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
        const what = shape.length === 1 ? 'the batch is empty' : path.length === 0 ? 'no classes' : 'an empty dimension';
        issues.push({ code: 'XENT_EMPTY_INPUT', pointer: pointerTo(field, path), detail: `${what}: every dimension needs at least one entry` });
        return null;
      }
      v = v[0];
      path.push(0);
    }
    if (shape.length < 2) {
      issues.push({
        code: 'XENT_INVALID_SHAPE',
        pointer: pointerTo(field),
        detail: `expected nested arrays of at least 2 dimensions [N][C] with the class dimension last, got ${shape.length === 0 ? describe(value) : 'a flat array'}`,
      });
      return null;
    }
  } else {
    shape = expected;
  }

  let elements = 1;
  for (const n of shape) elements *= n;
  if (elements > maxElements) {
    throw ProblemError.of(
      'XENT_TOO_MANY_ELEMENTS',
      pointerTo(field),
      `${elements} numbers (shape [${shape.join(', ')}]) exceed the limit of ${maxElements}`,
    );
  }

  // Never more than the body can hold: past that, writes fall off the end and the walk reports the missing values.
  const data = new Float64Array(Math.min(elements, capacity));
  const path: number[] = [];
  let offset = 0;
  const last = shape.length - 1;

  const walk = (v: unknown, depth: number): void => {
    const size = shape[depth]!;
    if (!Array.isArray(v) || v.length !== size) {
      const got = Array.isArray(v) ? `an array of length ${v.length}` : describe(v);
      issues.push({
        code: 'XENT_INVALID_SHAPE',
        pointer: pointerTo(field, path),
        detail: `expected an array of length ${size} (shape [${shape.join(', ')}]), got ${got}`,
      });
      offset += strideOf(shape, depth);
      return;
    }
    if (depth === last) {
      for (let i = 0; i < size; i++) {
        const x: unknown = v[i];
        if (typeof x === 'number' && Number.isFinite(x)) {
          data[offset++] = x;
          continue;
        }
        offset++;
        path.push(i);
        issues.push(
          typeof x === 'number'
            ? { code: 'XENT_NUMBER_OUT_OF_RANGE', pointer: pointerTo(field, path), detail: 'the number is outside the float64 range' }
            : { code: 'XENT_INVALID_NUMBER', pointer: pointerTo(field, path), detail: `expected a number, got ${describe(x)}` },
        );
        path.pop();
        if (issues.length >= MAX_ISSUES) return;
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
  if (data.length !== elements) throw new Error(`unreachable: ${elements} numbers read from a body that holds at most ${capacity}`);
  return { data, shape };
}

/**
 * Most numbers JSON text of this many bytes can hold: each takes a digit and a separator. A tensor shape promising
 * more (read from the first element at each depth) is ragged, so decoders allocate no more than this for it.
 */
export function maxJsonNumbers(bytes: number): number {
  return Math.ceil(bytes / 2);
}

function strideOf(shape: number[], depth: number): number {
  let n = 1;
  for (let d = depth; d < shape.length; d++) n *= shape[d]!;
  return n;
}

/** A short description of a JSON value for error messages; never more than a bounded excerpt of it. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return `a string ("${excerpt(v)}")`;
    case 'number':
      return `a number (${v})`;
    case 'boolean':
      return `a boolean (${v})`;
    case 'object':
      return 'an object';
    default:
      return typeof v;
  }
}

function excerpt(s: string, max = 40): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/** The known field nearest to a misspelt one (Levenshtein distance at most 3), or null. */
function closestField(key: string): string | null {
  let best: string | null = null;
  let bestDistance = 4;
  if (key.length > 64) return null;
  for (const known of KNOWN_FIELDS) {
    const d = levenshtein(key.toLowerCase(), known);
    if (d < bestDistance) {
      bestDistance = d;
      best = known;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

import { checkKeys, ProblemError, throwIssues, type Issue } from '../problems.js';
import { pointerTo } from '../pointer.js';
import { FOREIGN_NAMES, SCORE_FIELDS } from '../fields.js';
import {
  buildTask,
  expectedShape,
  pickOne,
  resolveClassAxis,
  resolveOptions,
  shapeHint,
  type DecodedTask,
  type GivenOptions,
  type OtherTensor,
} from '../task.js';
import { checkInputShape, inferShape, JSON_NUMBER, MAX_DIMENSIONS, maxJsonNumbers, readNestedTensor } from '../tensor.js';
import { describe, excerpt } from '../text.js';

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
 * A parsed JSON body of POST /loss or /cost, checked and turned into the kernel's task through the task builder.
 * Throws a ProblemError listing what is wrong, each issue with the JSON pointer of its place. Value-domain checks
 * (probability ranges, label ranges, ...) are the kernel's, shared with every other decoder.
 */
export function decodeScoreRequest(body: unknown, limits: DecodeLimits): DecodedTask {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw ProblemError.of('XENT_INVALID_BODY', '', `the body must be a JSON object, got ${describe(body)}`);
  }
  const fields = body as Record<string, unknown>;
  const issues: Issue[] = [];
  checkKeys(fields, '', (key) => SCORE_FIELDS.has(key), unknownField, issues);

  const has = (name: string) => Object.hasOwn(fields, name);
  const inputField = pickOne('logits', 'probabilities', has, (name) => `/${name}`, '', issues);
  const truthField = pickOne('labels', 'targets', has, (name) => `/${name}`, '', issues);
  const options = resolveOptions(fields as GivenOptions, inputField, truthField, (name) => pointerTo(name), issues);
  if (issues.length > 0 || inputField === null || truthField === null || options === null) throwIssues(issues);

  const capacity = limits.bodyBytes === undefined ? Infinity : maxJsonNumbers(limits.bodyBytes);
  const shape = inferShape(fields[inputField], inputField, issues);
  if (shape === null) throwIssues(issues);
  const classAxis = resolveClassAxis(options.classDim, shape.length, inputField, '/class_dim', issues);
  if (classAxis === null) throwIssues(issues);
  checkInputShape(shape, limits.maxElements, pointerTo(inputField), () => pointerTo(inputField), issues);
  const input = readNestedTensor(fields[inputField], shape, inputField, JSON_NUMBER, capacity, issues);
  if (input === null) throwIssues(issues);
  const other = (field: OtherTensor): Float64Array | null => {
    const value = fields[field];
    const hint = shapeHint(field, looseShape(value), shape, classAxis, inputField);
    if (hint !== null) {
      issues.push({ code: 'XENT_INVALID_SHAPE', pointer: pointerTo(field), detail: hint });
      return null;
    }
    return readNestedTensor(value, expectedShape(field, shape, classAxis), field, JSON_NUMBER, capacity, issues);
  };
  const truth = other(truthField);
  const classWeights = has('class_weights') ? other('class_weights') : null;
  const sampleWeights = has('sample_weights') ? other('sample_weights') : null;
  if (issues.length > 0 || truth === null) throwIssues(issues);
  return buildTask({ field: inputField, tensor: { data: input, shape } }, { field: truthField, data: truth }, classWeights, sampleWeights, options, classAxis);
}

/** The shape nested arrays seem to have, from the first element at each depth (for hints; the walk checks it all). */
function looseShape(value: unknown): number[] {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v) && shape.length <= MAX_DIMENSIONS; v = v[0]) shape.push(v.length);
  return shape;
}

function unknownField(key: string): string {
  const foreign = Object.hasOwn(FOREIGN_NAMES, key.toLowerCase()) ? FOREIGN_NAMES[key.toLowerCase()] : undefined;
  if (foreign !== undefined) return `unknown field "${excerpt(key)}": ${foreign}`;
  const guess = closestField(key);
  return `unknown field "${excerpt(key)}"${guess === null ? '' : `; did you mean "${guess}"?`}`;
}

/** The known field nearest to a misspelt one (Levenshtein distance at most 3), or null. */
function closestField(key: string): string | null {
  let best: string | null = null;
  let bestDistance = 4;
  if (key.length > 64) return null;
  for (const known of SCORE_FIELDS) {
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

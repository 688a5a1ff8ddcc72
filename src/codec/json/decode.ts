import { checkKeys, ProblemError, throwIssues, type Issue } from '../problems.js';
import { pointerTo } from '../pointer.js';
import { FOREIGN_NAMES, SCORE_FIELDS } from '../fields.js';
import { buildTask, checkPartScope, checkSequenceScope, checkTextLengths, expectedShape, pickParts, resolveClassAxis, resolveOptions, shapeHint, type ClassInputField, type DecodedTask, type GivenOptions, type OtherTensor } from '../task.js';
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
  const { input: inputField, truth: truthField } = pickParts(has, (name) => `/${name}`, '', issues);
  const options = resolveOptions(fields as GivenOptions, inputField, truthField, (name) => pointerTo(name), issues);
  checkPartScope(inputField, has, (name) => pointerTo(name), issues);
  if (issues.length > 0 || inputField === null || options === null || (truthField === null && inputField !== 'target_log_probs')) {
    throwIssues(issues);
  }

  const capacity = limits.bodyBytes === undefined ? Infinity : maxJsonNumbers(limits.bodyBytes);
  const logProbs = inputField === 'target_log_probs';
  const shape = inferShape(fields[inputField], inputField, issues, logProbs ? 1 : 2);
  if (shape === null) throwIssues(issues);
  const classAxis = logProbs ? null : resolveClassAxis(options.classDim, shape.length, inputField, '/class_dim', issues);
  if (!logProbs && classAxis === null) throwIssues(issues);
  checkInputShape(shape, limits.maxElements, pointerTo(inputField), () => pointerTo(inputField), issues);
  const input = readNestedTensor(fields[inputField], shape, inputField, JSON_NUMBER, capacity, issues);
  if (input === null) throwIssues(issues);
  const rowShape = classAxis === null ? shape : expectedShape('labels', shape, classAxis);
  const other = (field: OtherTensor | 'mask'): Float64Array | null => {
    if (!has(field)) return null;
    const value = fields[field];
    if (field === 'mask') return readNestedTensor(value, rowShape, field, JSON_NUMBER, capacity, issues);
    const hint = shapeHint(field, looseShape(value), shape, classAxis!, inputField as ClassInputField);
    if (hint !== null) {
      issues.push({ code: 'XENT_INVALID_SHAPE', pointer: pointerTo(field), detail: hint });
      return null;
    }
    return readNestedTensor(value, expectedShape(field, shape, classAxis!), field, JSON_NUMBER, capacity, issues);
  };
  const truth = truthField === null ? null : other(truthField);
  const parts = {
    classWeights: other('class_weights'),
    sampleWeights: other('sample_weights'),
    mask: other('mask'),
    bytes: checkTextLengths(textLengths(fields.bytes, 'bytes', issues), 'bytes', rowShape[0]!, (i) => pointerTo('bytes', i === undefined ? [] : [i]), issues),
    words: checkTextLengths(textLengths(fields.words, 'words', issues), 'words', rowShape[0]!, (i) => pointerTo('words', i === undefined ? [] : [i]), issues),
  };
  checkSequenceScope(options, rowShape, (name) => pointerTo(name), issues);
  if (issues.length > 0 || (truthField !== null && truth === null)) throwIssues(issues);
  return buildTask(
    { field: inputField, tensor: { data: input, shape } },
    truthField === null ? null : { field: truthField, data: truth! },
    parts,
    options,
    classAxis,
  );
}

/** bytes or words as given: a flat array of numbers (checked as lengths by the task builder), or null. */
function textLengths(value: unknown, name: 'bytes' | 'words', issues: Issue[]): Float64Array | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) {
    issues.push({ code: 'XENT_INVALID_SHAPE', pointer: pointerTo(name), detail: `${name} must be an array of lengths, one per sequence, got ${describe(value)}` });
    return null;
  }
  return readNestedTensor(value, [value.length], name, JSON_NUMBER, Infinity, issues);
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

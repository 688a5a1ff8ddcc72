import { decodeScoreRequest } from '../../src/codec/json/decode.js';
import { parseJson } from '../../src/codec/json/scan.js';
import type { DecodedTask as DecodedScoreRequest } from '../../src/codec/task.js';
import { ERRORS, ProblemError, type ErrorCode, type Issue } from '../../src/codec/problems.js';
import { evaluate } from '../../src/kernel/evaluate.js';
import type { InputProblemKind, ScoreSummary } from '../../src/kernel/types.js';
import { MAX_ECHOED_KEY } from '../../src/codec/pointer.js';

/**
 * What every answer of POST /loss and /cost must satisfy, whatever was sent, and the answer a direct call of the
 * decoder and kernel gives for the same bytes. Shared by the fuzz and the pathological-request tests.
 */

export interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

const FIELDS = new Set(['logits', 'probabilities', 'labels', 'targets', 'class_weights', 'sample_weights', 'ignore_index', 'label_smoothing', 'epsilon', 'unit', 'class_dim', 'renormalize']);
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** The kernel's findings and the code each is answered with (README, error catalog). */
const KERNEL_CODES: Record<InputProblemKind, ErrorCode> = {
  NOT_FINITE: 'XENT_INVALID_NUMBER',
  ROW_ALL_MASKED: 'XENT_ROW_ALL_MASKED',
  PROBABILITY_OUT_OF_RANGE: 'XENT_PROBABILITY_OUT_OF_RANGE',
  PROBABILITIES_NOT_NORMALIZED: 'XENT_PROBABILITIES_NOT_NORMALIZED',
  NEGATIVE_TARGET: 'XENT_NEGATIVE_TARGET',
  NEGATIVE_WEIGHT: 'XENT_NEGATIVE_WEIGHT',
  LABEL_NOT_INTEGER: 'XENT_LABEL_NOT_INTEGER',
  LABEL_OUT_OF_RANGE: 'XENT_LABEL_OUT_OF_RANGE',
  LABEL_ON_MASKED_CLASS: 'XENT_LABEL_ON_MASKED_CLASS',
  LOG_PROBABILITY_POSITIVE: 'XENT_LOG_PROBABILITY_POSITIVE',
  MASK_NOT_BINARY: 'XENT_INVALID_MASK',
};

export type Resolved = { found: true; value: unknown } | { found: false };

/** RFC 6901: the value a JSON pointer names in a parsed document, own properties and in-range indices only. */
export function resolvePointer(doc: unknown, pointer: string): Resolved {
  if (pointer === '') return { found: true, value: doc };
  if (!pointer.startsWith('/')) return { found: false };
  let value = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(value)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) >= value.length) return { found: false };
      value = value[Number(token)];
    } else if (typeof value === 'object' && value !== null) {
      // A descriptor, not `value[token]`: "__proto__" must name the body's own key, never Object.prototype.
      const own = Object.getOwnPropertyDescriptor(value, token);
      if (own === undefined) return { found: false };
      value = own.value;
    } else {
      return { found: false };
    }
  }
  return { found: true, value };
}

/** Why the place a pointer names cannot be the place an issue of this code is about; null when it can. */
function misplaced(code: ErrorCode, pointer: string, doc: unknown): string | null {
  const noPointer: ErrorCode[] = ['XENT_INVALID_JSON', 'XENT_INVALID_BODY', 'XENT_MISSING_FIELD', 'XENT_UNSUPPORTED_MEDIA_TYPE', 'XENT_BODY_TOO_LARGE'];
  if (noPointer.includes(code)) return pointer === '' ? null : `${code} should name no place, names ${pointer}`;
  if (pointer === '') {
    // An unknown field whose name is too long to echo is named by the body that holds it.
    const longUnknownKey = (): boolean =>
      typeof doc === 'object' && doc !== null && Object.keys(doc).some((k) => k.length > MAX_ECHOED_KEY && !FIELDS.has(k));
    // So is a key given twice whose name is too long to echo.
    const longKey = (): boolean => typeof doc === 'object' && doc !== null && Object.keys(doc).some((k) => k.length > MAX_ECHOED_KEY);
    if (code === 'XENT_NON_FINITE_RESULT' || (code === 'XENT_UNKNOWN_FIELD' && longUnknownKey()) || (code === 'XENT_DUPLICATE_FIELD' && longKey())) return null;
    return `${code} names no place`;
  }
  const at = resolvePointer(doc, pointer);
  if (!at.found) return `${code} at ${pointer}: no such place in the request`;
  const v = at.value;
  const topLevel = pointer.split('/').length === 2;
  const isNumber = typeof v === 'number';
  const ok = ((): boolean => {
    switch (code) {
      case 'XENT_UNKNOWN_FIELD':
        return topLevel && !FIELDS.has(resolveToken(pointer)) && !FORBIDDEN.has(resolveToken(pointer));
      case 'XENT_FORBIDDEN_KEY':
        return topLevel && FORBIDDEN.has(resolveToken(pointer));
      case 'XENT_DUPLICATE_FIELD':
        return true; // the key exists (JSON.parse kept its last value)
      case 'XENT_CONFLICTING_FIELDS':
      case 'XENT_INVALID_OPTION':
        return topLevel && FIELDS.has(resolveToken(pointer));
      case 'XENT_EMPTY_INPUT':
        return Array.isArray(v) && v.length === 0;
      case 'XENT_INVALID_NUMBER':
        return !isNumber;
      case 'XENT_NUMBER_OUT_OF_RANGE':
        return isNumber && !Number.isFinite(v);
      case 'XENT_PROBABILITY_OUT_OF_RANGE':
        return isNumber && !(v >= 0 && v <= 1);
      case 'XENT_NEGATIVE_TARGET':
      case 'XENT_NEGATIVE_WEIGHT':
        return isNumber && v < 0;
      case 'XENT_LABEL_NOT_INTEGER':
        return isNumber && !Number.isInteger(v);
      case 'XENT_LABEL_OUT_OF_RANGE':
        return isNumber;
      case 'XENT_PROBABILITIES_NOT_NORMALIZED':
      case 'XENT_NON_FINITE_RESULT':
        return Array.isArray(v);
      default:
        // XENT_INVALID_SHAPE (the array or value whose shape is wrong), XENT_TOO_MANY_ELEMENTS (the tensor): it exists.
        return true;
    }
  })();
  return ok ? null : `${code} at ${pointer} names ${describe(v)}`;
}

function resolveToken(pointer: string): string {
  return pointer.slice(1).replaceAll('~1', '/').replaceAll('~0', '~');
}

function describe(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length <= 60 ? text : `${text.slice(0, 60)}…`;
}

/**
 * The invariants of any answer to a scoring request whose body (as sent, after UTF-8 decoding) is `text`: never a
 * 5xx; a 4xx is a problem document whose `code` is in the catalog with that status, whose `detail` leads with its
 * pointer, and whose every pointer names a real place of the right kind in the request. `text` null: the body was
 * not read as JSON (another content type), so no pointer may appear. Returns the violations.
 */
export function violations(answer: Answer, text: string | null): string[] {
  const found: string[] = [];
  const { statusCode } = answer;
  if (statusCode >= 500) return [`${statusCode}: ${answer.body.slice(0, 300)}`];
  if (statusCode === 200) {
    if (!String(answer.headers['content-type']).startsWith('application/json')) found.push(`200 with content-type ${answer.headers['content-type']}`);
    return found;
  }
  if (statusCode < 400) return [`unexpected status ${statusCode}`];
  if (!String(answer.headers['content-type']).startsWith('application/problem+json')) {
    found.push(`${statusCode} with content-type ${answer.headers['content-type']}`);
  }
  let problem: { code?: unknown; status?: unknown; pointer?: unknown; detail?: unknown; errors?: unknown };
  try {
    problem = JSON.parse(answer.body) as typeof problem;
  } catch {
    return [...found, `${statusCode} body is not JSON: ${answer.body.slice(0, 200)}`];
  }
  const code = problem.code as ErrorCode;
  if (typeof code !== 'string' || !Object.hasOwn(ERRORS, code)) return [...found, `code ${String(code)} is not in the catalog`];
  if (ERRORS[code].status !== statusCode) found.push(`${code} answered ${statusCode}, the catalog says ${ERRORS[code].status}`);
  if (problem.status !== statusCode) found.push(`status field ${String(problem.status)} on a ${statusCode}`);
  if (typeof problem.detail !== 'string') found.push('no detail');
  let doc: unknown;
  let parsed = text !== null;
  try {
    if (text !== null) doc = JSON.parse(text);
  } catch {
    parsed = false;
  }
  const pointer = problem.pointer;
  if (pointer !== undefined) {
    if (typeof pointer !== 'string' || pointer === '') found.push(`pointer ${JSON.stringify(pointer)}`);
    else if (typeof problem.detail === 'string' && !problem.detail.startsWith(`${pointer}: `)) found.push('detail does not lead with the pointer');
  }
  if (!parsed) {
    // Only a body JSON.parse refuses can be answered XENT_INVALID_JSON, and then there is no place to point at, except
    // a NaN or Infinity written where a number belongs (the answer names that place and says why).
    if (text !== null && code !== 'XENT_INVALID_JSON' && statusCode === 400) found.push(`${code} for a body that is not JSON`);
    const nonJsonNumber = text !== null && /NaN|Infinity|\binf\b|\bnan\b/.test(text);
    if (pointer !== undefined && !nonJsonNumber) found.push(`a pointer (${String(pointer)}) into a body that is not JSON`);
    return found;
  }
  if (code === 'XENT_INVALID_JSON') found.push('XENT_INVALID_JSON for a body JSON.parse accepts');
  const issues = Array.isArray(problem.errors) ? (problem.errors as Issue[]) : [];
  if (issues.length === 0) found.push('no errors list');
  if (issues[0] !== undefined && issues[0].code !== code) found.push(`errors[0].code ${issues[0].code} differs from code ${code}`);
  if ((issues[0]?.pointer ?? '') !== (pointer ?? '')) found.push('errors[0].pointer differs from pointer');
  for (const issue of issues) {
    if (!Object.hasOwn(ERRORS, issue.code)) found.push(`errors[].code ${issue.code} is not in the catalog`);
    else {
      const why = misplaced(issue.code, issue.pointer, doc);
      if (why !== null) found.push(why);
    }
  }
  return found;
}

/** What a direct call of the decoder and the kernel says about a body: its exact 200 answer, or the problem. */
export type Reference =
  | { kind: 'invalid-json' }
  | { kind: 'problem'; code: ErrorCode; issues: Issue[] }
  | { kind: 'kernel-problem'; codes: ErrorCode[] }
  | { kind: 'ok'; body: string; decoded: DecodedScoreRequest; summary: ScoreSummary }
  /** The reference itself could not run (a shape so deep it overflows this test's stack): nothing to compare. */
  | { kind: 'none' };

export function reference(text: string, withLosses: boolean, maxElements: number): Reference {
  let decoded: DecodedScoreRequest;
  try {
    // The general path: the scan that refuses bodies too deep or too large to parse, JSON.parse, the decoder.
    const bytes = new TextEncoder().encode(text);
    decoded = decodeScoreRequest(parseJson(bytes, bytes.length, { maxElements }), { maxElements });
  } catch (err) {
    if (err instanceof ProblemError) return err.code === 'XENT_INVALID_JSON' ? { kind: 'invalid-json' } : { kind: 'problem', code: err.code, issues: err.issues };
    if (err instanceof RangeError) return { kind: 'none' };
    throw err;
  }
  const evaluation = evaluate(decoded.task);
  if (evaluation.status === 'invalid') return { kind: 'kernel-problem', codes: evaluation.problems.map((p) => KERNEL_CODES[p.kind]) };
  if (evaluation.status === 'not-finite') return { kind: 'kernel-problem', codes: ['XENT_NON_FINITE_RESULT'] };
  return { kind: 'ok', body: expectedBody(decoded, evaluation.summary, withLosses), decoded, summary: evaluation.summary };
}

/**
 * The exact bytes of a 200 answer, written here from the summary (field order of the README, every float64 in
 * JSON's shortest round-trip form, losses nested in the labels' shape), not by the service's own serialiser.
 */
export function expectedBody(decoded: DecodedScoreRequest, s: ScoreSummary, withLosses: boolean): string {
  const n = (x: number | null) => (x === null ? 'null' : JSON.stringify(x));
  const aggregates =
    `"sum":${n(s.sum)},"cost":${n(s.cost)},"count":${n(s.count)},"total_weight":${n(s.totalWeight)},` +
    `"perplexity":${n(s.perplexity)},"accuracy":${n(s.accuracy)},"unit":"${s.unit}"`;
  if (!withLosses) return `{${aggregates}}`;
  const shape = decoded.layout.rowShape;
  const parts: string[] = [];
  let next = 0;
  // Iterative, so that a deep (but valid) shape cannot overflow this test's stack.
  const stack: { depth: number; i: number }[] = [{ depth: 0, i: 0 }];
  parts.push('[');
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const size = shape[top.depth]!;
    if (top.i === size) {
      parts.push(']');
      stack.pop();
      continue;
    }
    if (top.i > 0) parts.push(',');
    top.i++;
    if (top.depth === shape.length - 1) parts.push(n(s.losses[next++]!));
    else {
      parts.push('[');
      stack.push({ depth: top.depth + 1, i: 0 });
    }
  }
  return `{"losses":${parts.join('')},${aggregates}}`;
}

/** How an answer disagrees with the reference for the same bytes; empty when it agrees. */
export function disagreement(answer: Answer, ref: Reference): string[] {
  const problem = answer.statusCode === 200 ? null : (JSON.parse(answer.body) as { code: ErrorCode; errors?: Issue[] });
  switch (ref.kind) {
    case 'none':
      return [];
    case 'invalid-json':
      return problem?.code === 'XENT_INVALID_JSON' ? [] : [`JSON.parse refuses the body, the service answered ${answer.statusCode} ${problem?.code ?? ''}`];
    case 'problem': {
      if (problem === null) return [`the decoder refuses the body (${ref.code}), the service answered 200`];
      if (problem.code !== ref.code) return [`the decoder says ${ref.code}, the service ${problem.code}`];
      return JSON.stringify(problem.errors) === JSON.stringify(ref.issues) ? [] : ['the issues differ from the decoder’s'];
    }
    case 'kernel-problem':
      if (problem === null) return [`the kernel refuses the body (${ref.codes[0]}), the service answered 200`];
      return problem.code === ref.codes[0] ? [] : [`the kernel says ${ref.codes[0]}, the service ${problem.code}`];
    case 'ok':
      if (answer.statusCode !== 200) return [`the kernel scores the body, the service answered ${answer.statusCode} ${problem?.code ?? ''}`];
      return answer.body === ref.body ? [] : [`the 200 body differs from evaluate(): ${firstDifference(answer.body, ref.body)}`];
  }
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `at ${i}: got …${a.slice(Math.max(0, i - 30), i + 30)}…, expected …${b.slice(Math.max(0, i - 30), i + 30)}…`;
}

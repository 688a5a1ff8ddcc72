import { memberPointer } from './pointer.js';

/**
 * The one catalog of errors. Codes are stable: clients match on `code`, never on `title` or `detail`.
 * Every entry is listed in the OpenAPI document and the README.
 */
export const ERRORS = {
  XENT_INVALID_JSON: { status: 400, title: 'The body is not valid JSON' },
  XENT_INVALID_BODY: { status: 400, title: 'The body must be a JSON object' },
  XENT_UNKNOWN_FIELD: { status: 400, title: 'Unknown field' },
  XENT_FORBIDDEN_KEY: { status: 400, title: 'Forbidden key' },
  XENT_MISSING_FIELD: { status: 400, title: 'Missing field' },
  XENT_CONFLICTING_FIELDS: { status: 400, title: 'Conflicting fields' },
  XENT_DUPLICATE_FIELD: { status: 400, title: 'A key appears twice in one object' },
  XENT_INVALID_OPTION: { status: 400, title: 'Invalid option' },
  XENT_INVALID_SHAPE: { status: 400, title: 'Invalid shape' },
  XENT_EMPTY_INPUT: { status: 400, title: 'Empty batch or zero classes' },
  XENT_INVALID_NUMBER: { status: 400, title: 'Not a number' },
  XENT_NUMBER_OUT_OF_RANGE: { status: 400, title: 'Number outside the float64 range' },
  XENT_PROBABILITY_OUT_OF_RANGE: { status: 400, title: 'Probability outside [0, 1]' },
  XENT_PROBABILITIES_NOT_NORMALIZED: { status: 400, title: 'Probabilities do not sum to 1' },
  XENT_NEGATIVE_TARGET: { status: 400, title: 'Negative target' },
  XENT_NEGATIVE_WEIGHT: { status: 400, title: 'Negative class weight' },
  XENT_LABEL_NOT_INTEGER: { status: 400, title: 'Label is not an integer' },
  XENT_LABEL_OUT_OF_RANGE: { status: 400, title: 'Label out of range' },
  XENT_LABEL_ON_MASKED_CLASS: { status: 400, title: 'Label on a masked class' },
  XENT_ROW_ALL_MASKED: { status: 400, title: 'Every class of a sample is masked' },
  XENT_LOG_PROBABILITY_POSITIVE: { status: 400, title: 'A log-probability above 0' },
  XENT_INVALID_MASK: { status: 400, title: 'A mask value other than 0 or 1' },
  XENT_UNSUPPORTED_DATATYPE: { status: 400, title: 'Unsupported tensor datatype' },
  XENT_INVALID_BINARY_DATA: { status: 400, title: 'Malformed binary tensor data' },
  XENT_INVALID_STATE: { status: 400, title: 'Not a state this service wrote' },
  XENT_STATE_MISMATCH: { status: 400, title: 'States of different options' },
  XENT_BAD_REQUEST: { status: 400, title: 'Bad request' },
  XENT_UNAUTHORIZED: { status: 401, title: 'Missing or invalid API key' },
  XENT_NOT_FOUND: { status: 404, title: 'Not found' },
  XENT_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  XENT_REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  XENT_BODY_TOO_LARGE: { status: 413, title: 'Body too large' },
  XENT_TOO_MANY_ELEMENTS: { status: 413, title: 'Too many elements' },
  XENT_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  XENT_EXPECTATION_FAILED: { status: 417, title: 'Expectation not supported' },
  XENT_NON_FINITE_RESULT: { status: 422, title: 'The result is not finite' },
  XENT_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  XENT_HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  XENT_INTERNAL: { status: 500, title: 'Internal error' },
  XENT_OVERLOADED: { status: 503, title: 'Overloaded, retry later' },
  XENT_TIMEOUT: { status: 503, title: 'The request took too long' },
  XENT_WORKER_FAILED: { status: 503, title: 'A worker thread failed; retry' },
  XENT_NOT_READY: { status: 503, title: 'Not ready' },
  XENT_SHUTTING_DOWN: { status: 503, title: 'Shutting down' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** One thing wrong with a request: `pointer` is an RFC 6901 JSON pointer into the request body ('' = the whole body). */
export interface Issue {
  code: ErrorCode;
  pointer: string;
  detail: string;
}

/** An error answered as an RFC 9457 problem document; thrown anywhere below a route and caught by the one handler. */
export class ProblemError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly issues: Issue[];
  readonly headers: Record<string, string>;
  /** The line of a stream the problem is in (from 1), when it is in one. */
  readonly line: number | undefined;

  constructor(issues: [Issue, ...Issue[]], headers: Record<string, string> = {}, line?: number) {
    super(issues[0].detail);
    this.name = 'ProblemError';
    this.code = issues[0].code;
    this.status = ERRORS[this.code].status;
    this.issues = issues;
    this.headers = headers;
    this.line = line;
  }

  /** The same problem, found in line `line` of a stream. */
  inLine(line: number): ProblemError {
    return new ProblemError(this.issues as [Issue, ...Issue[]], this.headers, line);
  }

  static of(code: ErrorCode, pointer: string, detail: string, headers?: Record<string, string>): ProblemError {
    return new ProblemError([{ code, pointer, detail }], headers);
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  pointer?: string;
  instance?: string;
  /** POST /cost/stream: the line (from 1) of the request the problem is in; `pointer` is inside that line. */
  line?: number;
  errors?: Issue[];
}

/** The problem document for a list of issues; `detail` leads with the first issue's pointer. */
export function problemDocument(code: ErrorCode, issues: Issue[], instance?: string, line?: number): ProblemDocument {
  const first = issues[0];
  const doc: ProblemDocument = {
    type: `urn:xent:problem:${code.slice('XENT_'.length).toLowerCase().replaceAll('_', '-')}`,
    title: ERRORS[code].title,
    status: ERRORS[code].status,
    code,
    detail: first === undefined ? ERRORS[code].title : first.pointer === '' ? first.detail : `${first.pointer}: ${first.detail}`,
  };
  if (first !== undefined && first.pointer !== '') doc.pointer = first.pointer;
  if (instance !== undefined) doc.instance = instance;
  if (line !== undefined) doc.line = line;
  if (issues.length > 0) doc.errors = issues;
  return doc;
}

/** At most this many issues are reported for one request. */
export const MAX_ISSUES = 10;

/** Throws the issues found so far (at most MAX_ISSUES of them) as one ProblemError; returns when there are none. */
export function throwIfAny(issues: Issue[]): void {
  if (issues.length > 0) throwIssues(issues);
}

/**
 * Throws the issues as one ProblemError. For a part that a check refused: every refusal records its issue, so an
 * empty list here is a bug of ours, thrown as such (a 500), never an answer with no reason.
 */
export function throwIssues(issues: Issue[]): never {
  if (issues.length === 0) throw new Error('a request part was refused without an issue');
  throw new ProblemError(issues.slice(0, MAX_ISSUES) as [Issue, ...Issue[]]);
}

/** Keys that could reach Object.prototype if a client's object were ever merged into another: refused everywhere. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * An issue for every forbidden or unknown key of the object at `parent`; `unknown(key)` words the detail of an unknown
 * one (what the object may hold, or what the client probably meant), echoing the key only as a bounded excerpt.
 */
export function checkKeys(
  fields: object,
  parent: string,
  isKnown: (key: string) => boolean,
  unknown: (key: string) => string,
  issues: Issue[],
): void {
  for (const key of Object.keys(fields)) {
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({ code: 'XENT_FORBIDDEN_KEY', pointer: memberPointer(parent, key), detail: `the key "${key}" is not allowed` });
    } else if (!isKnown(key)) {
      issues.push({ code: 'XENT_UNKNOWN_FIELD', pointer: memberPointer(parent, key), detail: unknown(key) });
    }
  }
}

import { evaluate } from '../kernel/evaluate.js';
import { decodeScoreRequest, type DecodeLimits } from './decode.js';
import { readScoreRequest } from './fastJson.js';
import { ProblemError, type Issue } from './errors.js';
import { respond } from './outcome.js';

/** A JSON body held as raw bytes, to be parsed where it is scored (a worker thread) rather than on the event loop. */
export class RawJsonBody {
  constructor(readonly bytes: Uint8Array) {}
}

/** JSON.parse of a request body; a syntax error is XENT_INVALID_JSON with V8's message, cut to a bounded length. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : 'unparseable';
    throw ProblemError.of('XENT_INVALID_JSON', '', message.length <= 200 ? message : `${message.slice(0, 200)}…`);
  }
}

export interface JsonScoreJob {
  bytes: Uint8Array;
  withLosses: boolean;
  limits: DecodeLimits;
}

/**
 * The response of a scored body (JSON text; UTF-8 bytes when it comes back from a worker, so its buffer is moved),
 * or the issues of a rejected one (the caller raises them as a ProblemError).
 */
export type JsonScoreOutcome<Body extends string | Uint8Array = string> =
  | { ok: true; body: Body; samples: number; elements: number }
  | { ok: false; issues: [Issue, ...Issue[]] };

// ignoreBOM: a leading byte order mark stays in the text and JSON.parse refuses it, as a JSON parser must (RFC 8259 §8.1).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * The whole of POST /loss or /cost for a body given as bytes: parse, decode, evaluate, serialise. Runs on the event
 * loop for small bodies and in a worker for large ones (so the event loop only moves their buffers); both paths are
 * this one function, so answers and errors are identical byte for byte.
 */
export function scoreJsonBody(job: JsonScoreJob): JsonScoreOutcome {
  try {
    // The one-pass reader gives exactly what JSON.parse + decodeScoreRequest give, or null when it is not sure (any
    // error included); then the general path runs and names the problem.
    const decoded = readScoreRequest(job.bytes, job.limits) ?? decodeScoreRequest(parseJsonBody(utf8.decode(job.bytes)), { ...job.limits, bodyBytes: job.bytes.length });
    const evaluation = evaluate(decoded.task);
    const response = job.withLosses ? respond(evaluation, decoded, true) : respond(evaluation, decoded, false);
    const { rows, input } = decoded.task;
    return { ok: true, body: JSON.stringify(response), samples: rows, elements: input.length };
  } catch (err) {
    if (err instanceof ProblemError) return { ok: false, issues: err.issues as [Issue, ...Issue[]] };
    throw err;
  }
}

import { evaluate } from '../kernel/evaluate.js';
import { assertScored, costFigures, lossFigures } from './figures.js';
import { decodeScoreRequest } from './json/decode.js';
import { readScoreRequest } from './json/fastReader.js';
import { parseJson } from './json/scan.js';
import { decodeInferenceRequest } from './oip/decode.js';
import { encodeInferenceResponse } from './oip/encode.js';
import { ProblemError, type Issue } from './problems.js';

export interface BodyLimits {
  /** Most numbers the model output tensor may hold (samples × classes). */
  maxElements: number;
}

/**
 * A request body as received, bytes only, and what to answer it with: the whole of a scoring request from bytes to
 * bytes, on either protocol. One job kind, one function, run on the event loop for small bodies and in a worker for
 * large ones, so that both paths answer byte for byte alike.
 */
export type BodyJob =
  /** POST /loss (`withLosses`) or /cost: a JSON body. */
  | { protocol: 'score'; bytes: Uint8Array; withLosses: boolean; limits: BodyLimits }
  /** An inference-protocol request: JSON, or a JSON header of `headerLength` bytes followed by binary tensors. */
  | { protocol: 'inference'; bytes: Uint8Array; headerLength: string | string[] | undefined; limits: BodyLimits };

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/**
 * Inference-protocol JSON is `application/json` and nothing more, as Triton's and KServe's own servers send it (RFC 8259
 * defines no charset parameter: JSON is UTF-8). KServe's Python REST client reads an error's message only when the
 * header is exactly this string (kserve/inference_client.py, InferenceRESTClient._construct_http_status_error).
 */
export const INFERENCE_JSON_CONTENT_TYPE = 'application/json';
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

/**
 * The answer to a scored body (text, or bytes for binary tensors and when it comes back from a worker) with its media
 * type and, for binary inference answers, the length of their JSON header; or the issues of a refused body (the caller
 * raises them as a ProblemError). `samples` and `elements` are what was scored, for metrics.
 */
export type BodyOutcome<Body extends string | Uint8Array = string | Uint8Array> =
  | { ok: true; body: Body; contentType: string; inferenceHeaderLength: number | null; samples: number; elements: number }
  | { ok: false; issues: [Issue, ...Issue[]] };

/** Decodes, evaluates and encodes one body; every refusal is returned as issues, anything else thrown is a bug. */
export function scoreBody(job: BodyJob): BodyOutcome {
  try {
    return job.protocol === 'score' ? scoreJson(job) : scoreInference(job);
  } catch (err) {
    if (err instanceof ProblemError) return { ok: false, issues: err.issues as [Issue, ...Issue[]] };
    throw err;
  }
}

function scoreJson(job: Extract<BodyJob, { protocol: 'score' }>): BodyOutcome<string> {
  const { bytes, limits } = job;
  // The one-pass reader gives exactly what JSON.parse + decodeScoreRequest give, or null when it is not sure (any
  // error included); then the general path runs and names the problem.
  const decoded = readScoreRequest(bytes, limits) ?? decodeScoreRequest(parseJson(bytes, bytes.length, limits), { ...limits, bodyBytes: bytes.length });
  const evaluation = evaluate(decoded.task);
  assertScored(evaluation, decoded.layout);
  const figures = job.withLosses ? lossFigures(evaluation.summary, decoded.layout) : costFigures(evaluation.summary);
  const { rows, input } = decoded.task;
  return { ok: true, body: JSON.stringify(figures), contentType: JSON_CONTENT_TYPE, inferenceHeaderLength: null, samples: rows, elements: input.length };
}

function scoreInference(job: Extract<BodyJob, { protocol: 'inference' }>): BodyOutcome {
  const decoded = decodeInferenceRequest(job.bytes, job.headerLength, job.limits);
  const evaluation = evaluate(decoded.task);
  assertScored(evaluation, decoded.layout);
  const encoded = encodeInferenceResponse(costFigures(evaluation.summary), evaluation.summary.losses, decoded);
  const { rows, input } = decoded.task;
  const scored = { samples: rows, elements: input.length };
  return encoded.kind === 'json'
    ? { ok: true, body: JSON.stringify(encoded.body), contentType: INFERENCE_JSON_CONTENT_TYPE, inferenceHeaderLength: null, ...scored }
    : { ok: true, body: encoded.body, contentType: BINARY_CONTENT_TYPE, inferenceHeaderLength: encoded.headerLength, ...scored };
}

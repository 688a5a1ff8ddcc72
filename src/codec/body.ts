import { evaluate, type Evaluation } from '../kernel/evaluate.js';
import { answerFigures, assertScored, costFigures, lossFigures } from './figures.js';
import { decodeScoreRequest } from './json/decode.js';
import { readScoreRequest } from './json/fastReader.js';
import { parseJson } from './json/scan.js';
import { decodeInferenceRequest } from './oip/decode.js';
import { encodeInferenceResponse } from './oip/encode.js';
import { checkKeys, ProblemError, throwIfAny, type Issue } from './problems.js';
import { figuresOfState, mergeStates, stateOf } from './state.js';
import type { DecodedTask } from './task.js';
import { excerpt } from './text.js';

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
  | { protocol: 'inference'; bytes: Uint8Array; headerLength: string | string[] | undefined; limits: BodyLimits }
  /** POST /merge: states of batches, to be answered as one batch. */
  | { protocol: 'merge'; bytes: Uint8Array; limits: BodyLimits }
  /** One line of POST /cost/stream: a /cost request, answered with its state only (the stream merges them). */
  | { protocol: 'line'; bytes: Uint8Array; limits: BodyLimits };

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
  | { ok: true; body: Body; contentType: string; inferenceHeaderLength: number | null; samples: number; elements: number; tally: Tally | null }
  | { ok: false; issues: [Issue, ...Issue[]] };

/** What a request that names its `model` adds to that model's counters: the running figures, in nats. */
export interface Tally {
  model: string;
  lossNats: number;
  weight: number;
  samples: number;
  /** Samples whose arg-max is the true class; null where accuracy has no meaning (target log-probabilities). */
  correct: number | null;
}

function tallyOf(decoded: DecodedTask, evaluation: Extract<Evaluation, { status: 'ok' }>): Tally | null {
  const { model } = decoded.options;
  if (model === null) return null;
  const { sum, totalWeight, count, correct } = evaluation.totals;
  return { model, lossNats: sum[0] + sum[1], weight: totalWeight[0] + totalWeight[1], samples: count, correct: decoded.task.kind === 'targetLogProbs' ? null : correct };
}

/** Decodes, evaluates and encodes one body; every refusal is returned as issues, anything else thrown is a bug. */
export function scoreBody(job: BodyJob): BodyOutcome {
  try {
    switch (job.protocol) {
      case 'score':
        return scoreJson(job);
      case 'inference':
        return scoreInference(job);
      case 'merge':
        return mergeJson(job);
      case 'line':
        return scoreLine(job);
    }
  } catch (err) {
    if (err instanceof ProblemError) return { ok: false, issues: err.issues as [Issue, ...Issue[]] };
    throw err;
  }
}

/** A JSON scoring request from its bytes to its evaluation. */
function evaluateJson(bytes: Uint8Array, limits: BodyLimits): { decoded: DecodedTask; evaluation: Extract<Evaluation, { status: 'ok' }> } {
  // The one-pass reader gives exactly what JSON.parse + decodeScoreRequest give, or null when it is not sure (any
  // error included); then the general path runs and names the problem.
  const decoded = readScoreRequest(bytes, limits) ?? decodeScoreRequest(parseJson(bytes, bytes.length, limits), { ...limits, bodyBytes: bytes.length });
  const evaluation = evaluate(decoded.task, decoded.request);
  assertScored(evaluation, decoded.layout);
  return { decoded, evaluation };
}

function scoreJson(job: Extract<BodyJob, { protocol: 'score' }>): BodyOutcome<string> {
  const { decoded, evaluation } = evaluateJson(job.bytes, job.limits);
  const figures = decoded.include.size === 0 && decoded.request.sequences === null
    ? job.withLosses
      ? lossFigures(evaluation.summary, decoded.layout)
      : costFigures(evaluation.summary)
    : answerFigures(evaluation, decoded, decoded.options, job.withLosses);
  const { rows, input } = decoded.task;
  const body = JSON.stringify(figures);
  return { ok: true, body, contentType: JSON_CONTENT_TYPE, inferenceHeaderLength: null, samples: rows, elements: input.length, tally: tallyOf(decoded, evaluation) };
}

function scoreInference(job: Extract<BodyJob, { protocol: 'inference' }>): BodyOutcome {
  const decoded = decodeInferenceRequest(job.bytes, job.headerLength, job.limits);
  const evaluation = evaluate(decoded.task, decoded.request);
  assertScored(evaluation, decoded.layout);
  const encoded = encodeInferenceResponse(evaluation, decoded);
  const { rows, input } = decoded.task;
  const scored = { samples: rows, elements: input.length, tally: tallyOf(decoded, evaluation) };
  return encoded.kind === 'json'
    ? { ok: true, body: JSON.stringify(encoded.body), contentType: INFERENCE_JSON_CONTENT_TYPE, inferenceHeaderLength: null, ...scored }
    : { ok: true, body: encoded.body, contentType: BINARY_CONTENT_TYPE, inferenceHeaderLength: encoded.headerLength, ...scored };
}

/** POST /merge: `{"states": [...]}` answered with the /cost figures of the union of the batches, and its state. */
function mergeJson(job: Extract<BodyJob, { protocol: 'merge' }>): BodyOutcome<string> {
  const body = parseJson(job.bytes, job.bytes.length, job.limits);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw ProblemError.of('XENT_INVALID_BODY', '', 'the body must be a JSON object: {"states": [...]}');
  }
  const issues: Issue[] = [];
  checkKeys(body, '', (key) => key === 'states', (key) => `unknown field "${excerpt(key)}"; a merge request has states only`, issues);
  throwIfAny(issues);
  const state = mergeStates((body as { states?: unknown }).states);
  const figures = figuresOfState(state);
  if (figures === null) throw ProblemError.of('XENT_NON_FINITE_RESULT', '', 'the merged sum of the losses exceeds the float64 range');
  const answer = { ...costFigures(figures.summary), ...(figures.diagnostics ?? {}), ...(figures.sequences ?? {}), state };
  return { ok: true, body: JSON.stringify(answer), contentType: JSON_CONTENT_TYPE, inferenceHeaderLength: null, samples: state.loss.count, elements: 0, tally: null };
}

/** A line of a stream: its state, whatever it asked to include (the stream answers with the merged figures). */
function scoreLine(job: Extract<BodyJob, { protocol: 'line' }>): BodyOutcome<string> {
  const { decoded, evaluation } = evaluateJson(job.bytes, job.limits);
  const input = decoded.task.kind === 'targetLogProbs' ? 'target_log_probs' : 'classes';
  const state = stateOf(decoded.options, input, decoded.task.classWeights, evaluation.totals, evaluation.diagnostics?.state ?? null, evaluation.sequences?.state ?? null);
  const { rows, input: data } = decoded.task;
  return { ok: true, body: JSON.stringify(state), contentType: JSON_CONTENT_TYPE, inferenceHeaderLength: null, samples: rows, elements: data.length, tally: tallyOf(decoded, evaluation) };
}

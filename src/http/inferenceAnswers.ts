import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { INFERENCE_JSON_CONTENT_TYPE } from '../codec/body.js';
import type { ErrorCode, ProblemError } from '../codec/problems.js';
import { logProblem } from './errorHandler.js';

/**
 * Answers of the inference protocol (under /v2), typed exactly `application/json` (see INFERENCE_JSON_CONTENT_TYPE).
 * Fastify appends `; charset=utf-8` to any JSON text it sends itself, so the text is serialised here and sent as bytes,
 * whose type Fastify leaves as it is.
 */
export function sendInferenceJson(reply: FastifyReply, value: unknown): FastifyReply {
  return sendInferenceBody(reply, INFERENCE_JSON_CONTENT_TYPE, JSON.stringify(value));
}

/** A scored body (text, or bytes from a worker or for binary tensors) as bytes, with its media type untouched. */
export function sendInferenceBody(reply: FastifyReply, contentType: string, body: string | Uint8Array): FastifyReply {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return reply.type(contentType).send(bytes);
}

/** A problem as the protocol's error object, `{"error": "<pointer>: <detail>; ..."}`, plus the catalogue's code. */
export function inferenceErrorOf(problem: ProblemError): { error: string; code: ErrorCode } {
  return { error: problem.issues.map((i) => (i.pointer === '' ? i.detail : `${i.pointer}: ${i.detail}`)).join('; '), code: problem.code };
}

/** Answers a problem as the protocol's error object. */
export function sendInferenceProblem(request: FastifyRequest, reply: FastifyReply, problem: ProblemError, error: FastifyError | Error): void {
  logProblem(request, problem, error);
  void sendInferenceJson(reply.code(problem.status).headers(problem.headers), inferenceErrorOf(problem));
}

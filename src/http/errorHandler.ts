import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError, problemDocument } from '../codec/problems.js';
import { cut } from '../codec/text.js';
import { methodNotAllowed } from './allowedMethods.js';
import { noteProblem } from './requestLog.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** Fastify's own client errors, by code, in the catalog's terms. */
const FASTIFY_ERRORS: Record<string, (e: FastifyError) => ProblemError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => ProblemError.of('XENT_BODY_TOO_LARGE', '', 'the request body exceeds the configured limit'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) =>
    ProblemError.of('XENT_UNSUPPORTED_MEDIA_TYPE', '', `${e.message}; send Content-Type: application/json`),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => ProblemError.of('XENT_BAD_REQUEST', '', 'Content-Length does not match the body'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => ProblemError.of('XENT_INVALID_JSON', '', 'the body is empty'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => ProblemError.of('XENT_INVALID_JSON', '', 'the body is not valid JSON'),
};

/** Any error in the catalog's terms; what is not a known client error is a bare XENT_INTERNAL. */
export function asProblem(error: FastifyError | Error): ProblemError {
  return knownProblem(error) ?? ProblemError.of('XENT_INTERNAL', '', 'internal error');
}

function knownProblem(error: FastifyError | Error): ProblemError | null {
  if (error instanceof ProblemError) return error;
  const code = (error as FastifyError).code;
  const known = code === undefined ? undefined : FASTIFY_ERRORS[code];
  if (known !== undefined) return known(error as FastifyError);
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return ProblemError.of('XENT_BAD_REQUEST', '', 'the request could not be read');
  }
  return null;
}

/**
 * The one error handler: every error becomes an RFC 9457 problem document. Anything unexpected is logged under
 * `err` and answered with a bare 500 whose message says nothing about the internals.
 */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const problem = asProblem(error);
  logProblem(request, problem, error);
  void reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemDocument(problem.code, problem.issues, instanceOf(request), problem.line));
}

/**
 * Every problem answered goes through here: its code is noted for the request's log line (http/requestLog.ts);
 * failures of ours are also logged as errors with their stack, and overload, timeouts and shutdown (expected answers)
 * at warn.
 */
export function logProblem(request: FastifyRequest, problem: ProblemError, error: unknown): void {
  noteProblem(request, problem.code);
  if (problem.code === 'XENT_INTERNAL' || problem.code === 'XENT_WORKER_FAILED') request.log.error({ err: error }, 'request failed');
  else if (problem.status >= 500) request.log.warn({ code: problem.code }, problem.issues[0]!.detail);
}

/** A request no route matched: 405 with `Allow` when its path has routes for other methods, else 404. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): void {
  const problem = methodNotAllowed(request) ?? ProblemError.of('XENT_NOT_FOUND', '', `no route ${request.method} ${instanceOf(request)}`);
  logProblem(request, problem, problem);
  void reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemDocument(problem.code, problem.issues, instanceOf(request)));
}

/** The request path, without the query and cut to a bounded length: problem documents never echo much user input. */
export function instanceOf(request: FastifyRequest): string {
  return cut(request.url.split('?')[0]!);
}

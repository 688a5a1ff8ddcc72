import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ErrorCode } from '../codec/problems.js';
import { cut } from '../codec/text.js';

const PROBLEM_CODE = Symbol('xent.problemCode');

type WithCode = FastifyRequest & { [PROBLEM_CODE]?: ErrorCode };

/** The levels at which info lines are written, and debug lines. */
const LOGS_INFO = new Set(['info', 'debug', 'trace']);
const LOGS_DEBUG = new Set(['debug', 'trace']);

/** Remembers the problem a request was answered with, for its log line. */
export function noteProblem(request: FastifyRequest, code: ErrorCode): void {
  (request as WithCode)[PROBLEM_CODE] = code;
}

/**
 * One log line per request, at info, once the answer is sent: method, URL (cut short), route pattern, status,
 * duration in ms, client address and, for an error, the problem code; the request id comes with the request's
 * logger. Fastify's LogController is where it writes its own two lines (received, completed): this one writes one
 * line instead, which halves the serialisation and I/O per request (pino's advice for hot paths) and carries more.
 * Bodies and headers are never logged. A response that failed on the wire is logged at error, with the error. At
 * debug, a request is also logged as it arrives ("incoming request"), for whoever must tell a request the server
 * received and never answered from one it never received (a shutdown check).
 */
export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (!LOGS_DEBUG.has(request.log.level)) return;
    request.log.debug({ method: request.method, url: cut(request.url), remoteAddress: request.ip }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const failed = error !== null && error !== undefined;
    // Nothing is built when the line would be dropped (LOG_LEVEL above info).
    if (!failed && !LOGS_INFO.has(request.log.level)) return;
    const code = (request as WithCode)[PROBLEM_CODE];
    const line = {
      method: request.method,
      url: cut(request.url),
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime * 1000) / 1000,
      remoteAddress: request.ip,
      ...(code === undefined ? {} : { code }),
    };
    if (failed) request.log.error({ ...line, err: error }, 'request errored');
    else request.log.info(line, 'request completed');
  }
}

import type { FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ProblemError, problemDocument } from '../codec/problems.js';
import { PROBLEM_CONTENT_TYPE } from './errorHandler.js';
import { requestIdFor } from './edges.js';
import { API_SECURITY_HEADERS } from './securityHeaders.js';

const SECURITY_HEADER_LINES = Object.entries(API_SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

/** Errors Node's HTTP parser raises before a request exists, in the catalog's terms. */
function problemOf(err: NodeJS.ErrnoException): ProblemError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ProblemError.of('XENT_REQUEST_TIMEOUT', '', 'the request did not arrive within REQUEST_TIMEOUT_MS');
    case 'HPE_HEADER_OVERFLOW':
      return ProblemError.of('XENT_HEADERS_TOO_LARGE', '', 'the request headers exceed the server limit');
    default:
      return ProblemError.of('XENT_BAD_REQUEST', '', 'the request is not valid HTTP/1.1');
  }
}

/**
 * Fastify's `clientErrorHandler`: a malformed or too-slow request is answered with a problem document like every
 * other error, then the socket is closed; nothing is written when a response on this connection has begun, as Node
 * itself does, so a reply is never corrupted. Logged at trace with the error code only: Node attaches the raw bytes
 * received (`rawPacket`) to these errors, and they may hold an API key or body content.
 */
export function handleClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const problem = problemOf(err);
  const id = requestIdFor(this);
  this.log.trace({ reqId: id, code: err.code, problem: problem.code }, 'client error');
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && inFlight?.headersSent !== true) {
    const body = JSON.stringify(problemDocument(problem.code, problem.issues));
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${SECURITY_HEADER_LINES}x-request-id: ${id}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

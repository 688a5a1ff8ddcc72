import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { ProblemError, problemDocument } from '../codec/problems.js';
import { asProblem, handleError, PROBLEM_CONTENT_TYPE } from './errorHandler.js';
import { sendInferenceProblem } from './inferenceAnswers.js';
import { registerLingeringClose } from './lingeringClose.js';
import { API_SECURITY_HEADERS } from './securityHeaders.js';

/**
 * Requests answered before a route runs, in the catalogue's terms and with the API's headers (security headers and
 * `x-request-id`): the router's refusals (a URL that is not valid percent-encoded UTF-8, a path segment longer than
 * the router's limit), a request without Host, an unknown expectation, CONNECT. Node and Fastify would answer the
 * first four with bare JSON or an empty body, and CONNECT by closing the connection without a word.
 */

/** Node's own options the module needs: Host is checked here, so the answer is a problem document, not a bare 400. */
export const EDGE_HTTP_OPTIONS = { requireHostHeader: false } as const;

const CLOSE = { connection: 'close' } as const;
/** How long a refused CONNECT's socket is kept open for the client to read the answer and close. */
const CONNECT_LINGER_MS = 2000;

/** Requests Node handed over through 'checkExpectation': they carry an Expect other than 100-continue. */
const unmetExpectations = new WeakSet<IncomingMessage>();

/**
 * Registers the checks that need the Node server (call after the hook that sets the API headers and before the
 * guards, so these answers carry the headers and come before authentication): Host, Expect, CONNECT, and the
 * lingering close of answers sent while the body is still arriving.
 */
export function registerEdges(app: FastifyInstance): void {
  // Without a 'checkExpectation' listener Node answers 417 itself, with no body or headers of ours; with one, the
  // request goes through Fastify like any other and the hook below answers it. Expect: 100-continue never gets
  // here: Node sends 100 Continue and hands the request over as usual.
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    unmetExpectations.add(req);
    app.server.emit('request', req, res);
  });
  // Without a 'connect' listener Node closes the connection of a CONNECT request without an answer.
  app.server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const problem = ProblemError.of('XENT_NOT_FOUND', '', 'no route CONNECT: this server is not a proxy');
    const id = requestIdFor(app);
    app.log.debug({ reqId: id, code: problem.code }, 'CONNECT refused');
    const body = JSON.stringify(problemDocument(problem.code, problem.issues));
    // Node has let go of the socket: ours to close. Whatever the client sends is read and dropped until it closes its
    // side (then the socket closes), for a few seconds at most.
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), CONNECT_LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        `content-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        Object.entries({ ...API_SECURITY_HEADERS, 'x-request-id': id })
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('') +
        `connection: close\r\n\r\n${body}`,
    );
  });
  app.addHook('onRequest', checkRequest);
  registerLingeringClose(app);
}

/** Host (RFC 9112: a server MUST answer 400 to an HTTP/1.1 request without one) and Expect, as Node checks them. */
function checkRequest(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const raw = request.raw;
  if (raw.headers.host === undefined && raw.httpVersionMajor === 1 && raw.httpVersionMinor === 1) {
    done(ProblemError.of('XENT_BAD_REQUEST', '', 'an HTTP/1.1 request needs a Host header', CLOSE));
  } else if (unmetExpectations.has(raw)) {
    // The body, if the client sends it at all, would be read only to be discarded: the connection is closed.
    done(ProblemError.of('XENT_EXPECTATION_FAILED', '', 'the only expectation supported is Expect: 100-continue', CLOSE));
  } else {
    done();
  }
}

/**
 * Fastify's `frameworkErrors`: the router's refusals, before any hook has run (so the API headers are set here).
 * Under /v2 they are answered in the inference protocol's form, `{"error", "code"}`, as every other answer there is;
 * elsewhere as problem documents, through the one error handler.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(API_SECURITY_HEADERS).header('x-request-id', request.id);
  const problem = routerProblem(error);
  if (!isInferenceUrl(request.url)) {
    handleError(problem, request, reply);
    return;
  }
  sendInferenceProblem(request, reply, problem, error);
}

/** The router's errors in the catalogue's terms; never the URL itself (the router's own message quotes all of it). */
function routerProblem(error: FastifyError): ProblemError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return ProblemError.of('XENT_BAD_REQUEST', '', 'the URL is not valid: a malformed percent-encoding or request target');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // Only the model name and version are path parameters, and no name that long is one: the same 404 as any
      // other unknown model, whatever its length.
      return ProblemError.of('XENT_NOT_FOUND', '', 'no such model or version: a name in the path is longer than any this server has');
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return ProblemError.of('XENT_INTERNAL', '', 'internal error');
    default:
      return asProblem(error);
  }
}

/** Whether a URL is under the inference protocol's prefix, /v2 (the prefix its routes and handlers are registered under). */
function isInferenceUrl(url: string): boolean {
  return url.startsWith('/v2') && (url.length === 3 || url[3] === '/' || url[3] === '?');
}

/**
 * A request id for an answer written before Fastify has a request (the CONNECT refusal, Node's parser errors): the
 * next one from the app's own generator, so it looks like every other id in the logs.
 */
export function requestIdFor(app: FastifyInstance): string {
  const generate = (app as unknown as { genReqId?: unknown }).genReqId;
  return typeof generate === 'function' ? String(generate({ headers: {} })) : randomUUID();
}

import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { registerDocs } from './http/docs.js';
import { registerGuards } from './http/guards.js';
import { Metrics } from './http/metrics.js';
import { RawJsonBody } from './http/jsonBody.js';
import { API_SECURITY_HEADERS } from './http/securityHeaders.js';
import { handleClientError } from './http/clientError.js';
import { handleError, handleNotFound } from './http/errorHandler.js';
import { ProblemError } from './http/errors.js';
import { healthRoutes } from './http/routes/health.js';
import { inferenceRoutes } from './http/routes/inference.js';
import { scoreRoutes } from './http/routes/score.js';
import { evaluate } from './kernel/evaluate.js';
import type { ScoreTask } from './kernel/types.js';
import { ScorePool } from './pool/scorePool.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Turns /readyz to 503 ahead of closing, so load balancers stop sending work during the drain delay. */
    markNotReady(): void;
  }
}

export interface AppOptions {
  /** Fastify's logger option; defaults to pino at the configured level. */
  logger?: FastifyServerOptions['logger'];
  /** Tests only: another worker module for the pool (fault injection). */
  poolWorkerFile?: string;
}

/**
 * Builds the service: plugins and routes registered explicitly, the worker pool started and checked. Never listens;
 * `server.ts` does that. `app.close()` drains requests and closes the pool.
 */
export async function buildApp(config: Readonly<Config>, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // pino; request bodies are never logged, and the Authorization header is redacted from request logs.
    logger: options.logger ?? { level: config.logLevel, redact: ['req.headers.authorization', 'err.rawPacket'] },
    bodyLimit: config.bodyLimit,
    requestIdHeader: 'x-request-id',
    // Requests that reach a closing server get our XENT_SHUTTING_DOWN problem (hook below), not Fastify's plain 503.
    return503OnClosing: false,
    // The whole request (headers and body) must arrive within REQUEST_TIMEOUT_MS (else 408), and scoring must end
    // within it (else 503): slow clients do not hold sockets. Node checks request deadlines every
    // connectionsCheckingInterval (30 s by default), so it runs at the timeout's own scale (at most 1 s late). The
    // socket's idle timer runs at twice the timeout and at least 2 s past it, so that either answer is sent before the
    // socket could be closed without one. Between requests, a kept-alive connection stays open for Fastify's
    // keepAliveTimeout (72 s, longer than the usual load balancer's idle timeout). 0 turns every one of these limits
    // off, Node's 60 s header deadline included.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs > 0 ? Math.max(2 * config.requestTimeoutMs, config.requestTimeoutMs + 2000) : 0,
    http:
      config.requestTimeoutMs > 0
        ? {
            requestTimeout: config.requestTimeoutMs,
            headersTimeout: config.requestTimeoutMs,
            connectionsCheckingInterval: Math.max(100, Math.min(1000, config.requestTimeoutMs)),
          }
        : { requestTimeout: 0, headersTimeout: 0 },
    clientErrorHandler: handleClientError,
  });

  // Route schemas feed the OpenAPI document; validation is zod's and the tensor reader's (see http/decode.ts),
  // and replies are plain JSON.stringify, which writes every float64 in its shortest round-trip form.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.removeAllContentTypeParsers(); // only JSON here; the inference routes add their binary form
  // JSON bodies stay bytes: the scoring routes read them in one pass straight into typed arrays, on the event loop
  // when small and in a worker when large (INLINE_MAX_BYTES), so the event loop only moves big buffers.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, new RawJsonBody(body as Buffer));
  });

  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  const pool = new ScorePool({
    workers: config.workers,
    maxQueue: config.maxQueue,
    workerMemoryMb: config.workerMaxMemoryMb,
    workerNice: config.workerNice,
    ...(options.poolWorkerFile === undefined ? {} : { filename: options.poolWorkerFile }),
  });
  let warmedUp = false;
  let closing = false;
  const metrics = new Metrics(pool);
  app.addHook('onReady', async () => {
    const check = await pool.run(warmUpTask());
    const expected = evaluate(warmUpTask());
    if (check.status !== 'ok' || expected.status !== 'ok' || check.summary.sum !== expected.summary.sum) {
      throw new Error('the worker pool gave a wrong answer to the warm-up task');
    }
    warmedUp = true;
  });
  app.decorate('markNotReady', () => {
    closing = true;
  });
  let closed = false;
  app.addHook('preClose', async () => {
    closing = true;
    closed = true;
  });
  // One synchronous hook for every request (a hook per concern costs microseconds each at thousands of requests a
  // second): the request id and the API's security headers, then, after close() began, only in-flight requests are
  // served; one arriving on a kept-alive connection is told to go elsewhere (Fastify set Connection: close on it).
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(API_SECURITY_HEADERS).header('x-request-id', request.id);
    if (closed) done(ProblemError.of('XENT_SHUTTING_DOWN', '', 'the service is shutting down', { 'retry-after': '1' }));
    else done();
  });
  app.addHook('onClose', async () => {
    await pool.close();
  });

  await registerGuards(app, config);
  metrics.register(app);
  await registerDocs(app);
  const readiness = {
    notReadyBecause: (): string | null => {
      if (closing) return 'shutting down';
      if (!warmedUp) return 'the worker pool is starting';
      if (pool.full) return 'the worker queue is full';
      if (app.isUnderPressure()) return 'the event loop is under pressure';
      return null;
    },
  };
  const scorer = { config, pool, metrics };
  await app.register(healthRoutes, { readiness });
  await app.register(scoreRoutes, scorer);
  await app.register(inferenceRoutes, { ...scorer, readiness });
  return app;
}

/** A tiny batch whose answer the pool must reproduce bit for bit before the service reports ready. */
function warmUpTask(): ScoreTask {
  return {
    kind: 'logits',
    rows: 2,
    classes: 3,
    input: new Float64Array([2, 1, 0.1, 0.5, 2.5, 0.3]),
    labels: new Float64Array([0, 1]),
    targets: null,
    classWeights: null,
    ignoreIndex: -100,
    labelSmoothing: 0,
    epsilon: 0,
    unit: 'nats',
  };
}

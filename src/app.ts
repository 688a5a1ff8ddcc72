import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { DestinationStream } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import { registerAllowedMethods } from './http/allowedMethods.js';
import { readWholeBody, TOO_LARGE_ADVICE } from './http/bodyReader.js';
import { handleClientError } from './http/clientError.js';
import { registerDocs } from './http/docs.js';
import { EDGE_HTTP_OPTIONS, handleFrameworkError, registerEdges } from './http/edges.js';
import { handleError, handleNotFound } from './http/errorHandler.js';
import { registerGuards } from './http/guards.js';
import { registerLifecycle } from './http/lifecycle.js';
import { RequestLog } from './http/requestLog.js';
import { Metrics } from './http/metrics.js';
import { healthRoutes } from './http/routes/health.js';
import { homeRoutes } from './http/routes/home.js';
import { inferenceRoutes } from './http/routes/inference.js';
import { scoreRoutes } from './http/routes/score.js';
import { streamRoutes } from './http/routes/stream.js';
import { fastifyTrustProxy } from './http/trustProxy.js';
import { Dispatcher } from './pool/dispatch.js';
import { ScorePool } from './pool/scorePool.js';
import { SharedBodies } from './pool/sharedBodies.js';

/**
 * Most bytes of shared buffers for bodies in flight to workers: ten 8 × 50257 JSON batches take 40 MiB; beyond it, a
 * body gets a buffer of its own, as it would without them.
 */
const SHARED_BODY_BYTES = 128 * 1024 * 1024;

export interface AppOptions {
  /** Fastify's logger option; defaults to pino at the configured level, writing to `logStream` or stdout. */
  logger?: FastifyServerOptions['logger'];
  /** Where the default logger writes (server.ts: pino-pretty on a terminal); stdout, as JSON lines, when absent. */
  logStream?: DestinationStream;
  /** Tests only: another worker module for the pool (fault injection). */
  poolWorkerFile?: string;
  /**
   * What GET /metrics answers, given this app's registry: by default that registry's text; one of several HTTP
   * processes answers the sum over all of them.
   */
  metricsSource?: (registry: Registry) => () => Promise<string>;
}

/**
 * Builds the service: plugins and routes registered explicitly, the worker pool started and checked. Wiring only:
 * what each part does is in its own module. Never listens; `server.ts` does that. `app.close()` drains requests and
 * closes the pool.
 */
export async function buildApp(config: Readonly<Config>, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // pino; request bodies are never logged, and the Authorization header is redacted from request logs.
    logger: options.logger ?? {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'err.rawPacket'],
      ...(options.logStream === undefined ? {} : { stream: options.logStream }),
    },
    // One line per request instead of Fastify's two, with the route, status, duration and problem code.
    logController: new RequestLog(),
    bodyLimit: config.bodyLimit,
    requestIdHeader: 'x-request-id',
    // Requests that reach a closing server get our XENT_SHUTTING_DOWN problem (http/lifecycle.ts), not Fastify's plain 503.
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
            ...EDGE_HTTP_OPTIONS,
          }
        : { requestTimeout: 0, headersTimeout: 0, ...EDGE_HTTP_OPTIONS },
    clientErrorHandler: handleClientError,
    // The router's refusals (bad URL, overlong path parameter) are answered like every other error, with the API's
    // headers; so are requests without Host or with an unknown Expect (EDGE_HTTP_OPTIONS, registerEdges below).
    frameworkErrors: handleFrameworkError,
    // Who the client is behind proxies (X-Forwarded-For): TRUST_PROXY, nobody by default.
    trustProxy: fastifyTrustProxy(config.trustProxy),
  });

  for (const notice of config.notices) app.log.warn(notice);

  // Route schemas feed the OpenAPI document; validation is the codec's, and replies are bytes the codec wrote (or
  // plain JSON.stringify, which writes every float64 in its shortest round-trip form).
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Bodies stay bytes: the codec reads them in one pass straight into typed arrays, on the event loop when small and
  // in a worker when large, so the event loop only moves big buffers. The inference routes add their binary form.
  // Large bodies are read into shared buffers that the worker reads in place (pool/sharedBodies.ts).
  const sharedBodies = new SharedBodies({ maxBytes: SHARED_BODY_BYTES, idleMs: 30_000 });
  const reading = { bodies: sharedBodies, minBytes: config.inlineMaxBytes };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', readWholeBody(config.bodyLimit, TOO_LARGE_ADVICE.json, reading));
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  registerAllowedMethods(app);

  const pool = new ScorePool({
    workers: config.workers,
    maxQueue: config.maxQueue,
    workerMemoryMb: config.workerMaxMemoryMb,
    workerNice: config.workerNice,
    ...(options.poolWorkerFile === undefined ? {} : { filename: options.poolWorkerFile }),
  });
  const metrics = new Metrics(pool, config.maxModels, sharedBodies);
  const dispatcher = new Dispatcher(pool, { inlineMaxBytes: config.inlineMaxBytes, requestTimeoutMs: config.requestTimeoutMs, sharedBodies }, metrics);
  const readiness = registerLifecycle(app, pool);
  const limits = { maxElements: config.maxElements };

  registerEdges(app);
  await registerGuards(app, config);
  metrics.register(app, options.metricsSource?.(metrics.registry));
  await registerDocs(app);
  await app.register(homeRoutes);
  await app.register(healthRoutes, { readiness });
  await app.register(scoreRoutes, { dispatcher, limits, bodyLimit: config.bodyLimit });
  await app.register(inferenceRoutes, { dispatcher, limits, readiness, bodyLimit: config.bodyLimit, reading });
  await app.register(streamRoutes, { dispatcher, limits, lineLimit: config.bodyLimit });
  app.addHook('onClose', async () => sharedBodies.close());
  return app;
}

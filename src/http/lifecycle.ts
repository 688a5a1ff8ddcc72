import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../codec/problems.js';
import type { ScorePool } from '../pool/scorePool.js';
import { selfTest } from '../pool/selfTest.js';
import type { Readiness } from './routes/health.js';
import { API_SECURITY_HEADERS } from './securityHeaders.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Turns /readyz to 503 ahead of closing, so load balancers stop sending work during the drain delay. */
    markNotReady(): void;
  }
}

/**
 * The service's life from start to close: ready once the pool has passed its start-up check, not ready while
 * overloaded or shutting down, every answer with the API's headers, and after close() began only the requests in
 * flight served (one arriving on a kept-alive connection is told to go elsewhere). The pool closes last.
 */
export function registerLifecycle(app: FastifyInstance, pool: ScorePool): Readiness {
  let started = false;
  let closing = false;
  let closed = false;
  app.addHook('onReady', async () => {
    await selfTest(pool);
    started = true;
  });
  app.decorate('markNotReady', () => {
    closing = true;
  });
  app.addHook('preClose', async () => {
    closing = true;
    closed = true;
  });
  // One synchronous hook for every request (a hook per concern costs microseconds each at thousands of requests a
  // second): the request id and the API's security headers, then the shutdown check (Fastify has set Connection:
  // close on requests that arrive while closing).
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(API_SECURITY_HEADERS).header('x-request-id', request.id);
    if (closed) done(ProblemError.of('XENT_SHUTTING_DOWN', '', 'the service is shutting down', { 'retry-after': '1' }));
    else done();
  });
  app.addHook('onClose', async () => {
    await pool.close();
  });
  return {
    notReadyBecause: (): string | null => {
      if (closing) return 'shutting down';
      if (!started) return 'the worker pool is starting';
      if (pool.full) return 'the worker queue is full';
      if (app.isUnderPressure()) return 'the event loop is under pressure';
      return null;
    },
  };
}

import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../../codec/problems.js';

export interface Readiness {
  /** Null when ready, else why not. */
  notReadyBecause(): string | null;
}

const status = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const;

export async function healthRoutes(app: FastifyInstance, { readiness }: { readiness: Readiness }): Promise<void> {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness: the process answers', tags: ['health'], response: { 200: status } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the worker pool is up and the service is not shutting down',
        tags: ['health'],
        response: { 200: status, 503: { description: 'Not ready (problem document, code XENT_NOT_READY)' } },
      },
    },
    async () => {
      const reason = readiness.notReadyBecause();
      if (reason !== null) throw ProblemError.of('XENT_NOT_READY', '', reason, { 'retry-after': '1' });
      return { status: 'ready' };
    },
  );
}

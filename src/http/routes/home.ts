import type { FastifyInstance } from 'fastify';
import { SERVICE_VERSION } from '../version.js';

/** Where to go from the root: the docs, the two APIs, the probes. Paths, so they hold behind any proxy prefix-free. */
export const INDEX = {
  name: 'xent',
  version: SERVICE_VERSION,
  description: 'Exact categorical cross-entropy as a service: POST logits or probabilities with labels or targets, get losses and the cost.',
  links: {
    docs: '/docs',
    openapi: '/docs/json',
    loss: 'POST /loss',
    cost: 'POST /cost',
    v2: '/v2',
    healthz: '/healthz',
    readyz: '/readyz',
    metrics: '/metrics',
  },
};

const indexSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    description: { type: 'string' },
    links: { type: 'object', additionalProperties: { type: 'string' }, description: 'Paths (GET unless a method is named).' },
  },
  required: ['name', 'version', 'links'],
  examples: [INDEX],
} as const;

/** GET /: a short JSON index for whoever opens the service's address first. */
export async function homeRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/',
    {
      schema: {
        summary: 'Index: the service, its version, and where to go next',
        tags: ['health'],
        response: { 200: { description: 'The index', content: { 'application/json': { schema: indexSchema } } } },
      },
    },
    async () => INDEX,
  );
}

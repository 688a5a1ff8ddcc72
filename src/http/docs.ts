import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ERRORS } from '../codec/problems.js';
import { jsonSchemaOf, nestedNumbersComponent, problemSchema } from './schemas/score.js';
import { SERVICE_VERSION } from './version.js';

/** OpenAPI 3.1 at GET /docs/json, generated from the route schemas, and Swagger UI at GET /docs. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'xent',
        version: SERVICE_VERSION,
        description:
          'Exact categorical cross-entropy as a service. Errors are RFC 9457 problem documents with a stable `code`:\n\n' +
          Object.entries(ERRORS)
            .map(([code, e]) => `- \`${code}\` (${e.status}): ${e.title}`)
            .join('\n'),
      },
      tags: [
        { name: 'scoring', description: 'Cross-entropy losses and costs' },
        { name: 'health', description: 'Liveness and readiness probes' },
        { name: 'inference', description: 'Open Inference Protocol v2 (KServe, Triton) with binary tensors' },
      ],
      components: {
        schemas: {
          NestedNumbers: nestedNumbersComponent,
          Problem: jsonSchemaOf(problemSchema),
        },
      },
    },
  });
  // The docs page is the only HTML: helmet's headers there, in a context of its own so the API routes do not pay for
  // them on every request.
  await app.register(async (page) => {
    // The API's deny-all policy (app.ts) would win over helmet's, which sets the raw response: drop it here first.
    page.addHook('onRequest', (_request, reply, done) => {
      reply.removeHeader('content-security-policy');
      done();
    });
    await page.register(helmet, {
      // Swagger UI loads only its own scripts and styles; its inline style attributes need 'unsafe-inline'.
      contentSecurityPolicy: {
        directives: { 'img-src': ["'self'", 'data:'], 'style-src': ["'self'", "'unsafe-inline'"] },
      },
    });
    await page.register(swaggerUi, { routePrefix: '/docs' });
  });
}

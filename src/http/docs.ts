import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ERRORS } from '../codec/problems.js';
import { jsonSchemaOf, nestedNumbersComponent, problemSchema } from './schemas/score.js';
import { SERVICE_VERSION } from './version.js';

/**
 * What the docs page opens with: what the service is, a two-line example, where to go for large batches; the error
 * catalogue comes last, in a section of its own.
 */
const DESCRIPTION = [
  'Exact categorical cross-entropy as a service. POST a batch of model outputs (logits or probabilities) with the truth ' +
    '(class-index labels or target distributions) and get the per-sample losses, the batch cost, perplexity and accuracy: ' +
    "PyTorch's `cross_entropy` with its options (class weights, `ignore_index`, label smoothing), computed in float64 " +
    'within 1e-13 relative, in nats or bits.',
  '```sh\n' +
    "curl -s localhost:3000/loss -H 'content-type: application/json' \\\n" +
    '  -d \'{"logits": [[2, 1, 0.1], [0.5, 2.5, 0.3]], "labels": [0, 1]}\'\n' +
    '```',
  '`POST /cost` answers the same figures without the per-sample losses. For large batches, use the Open Inference ' +
    'Protocol (`POST /v2/models/cross_entropy/infer`, as KServe and Triton speak it, Triton\'s Python client included) ' +
    'with binary FP16, BF16, FP32 or FP64 tensors: 2–4× smaller than JSON and read without parsing.',
  '## Errors',
  'Every error is an RFC 9457 problem document (`application/problem+json`) with a stable `code`, and `detail` led by ' +
    'the JSON pointer of the offending place; under `/v2` it is the protocol\'s `{"error": "...", "code": "XENT_..."}`. ' +
    'Clients match on `code`:',
  Object.entries(ERRORS)
    .map(([code, e]) => `- \`${code}\` (${e.status}): ${e.title}`)
    .join('\n'),
].join('\n\n');

/** OpenAPI 3.1 at GET /docs/json, generated from the route schemas, and Swagger UI at GET /docs. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'xent',
        version: SERVICE_VERSION,
        description: DESCRIPTION,
      },
      tags: [
        { name: 'scoring', description: 'Cross-entropy losses and costs' },
        { name: 'health', description: 'The index, liveness and readiness probes, metrics' },
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

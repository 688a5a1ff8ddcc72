import type { FastifyInstance } from 'fastify';
import { ERRORS, ProblemError } from '../errors.js';
import { RawJsonBody } from '../jsonBody.js';
import { scoreJsonInline, scoreJsonInWorker, type Scorer } from '../scoring.js';
import { costResponseSchema, jsonSchemaOf, lossResponseSchema, problemSchema, scoreRequestSchema } from '../schemas.js';

export type ScoreRoutesOptions = Scorer;

const problem = jsonSchemaOf(problemSchema);
const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problem } },
});

const SEMANTICS =
  'Semantics are PyTorch `cross_entropy` (logits) and `nll_loss(log p)` (probabilities) with the class dimension ' +
  'last, in float64 and with a relative error below 1e-13: class weights, ignore_index and label smoothing as in ' +
  'PyTorch; cost = sum / total_weight (the mean PyTorch reduction).';

/** POST /loss and POST /cost: one decoder, one kernel; the two differ only in whether per-sample losses are sent. */
export async function scoreRoutes(app: FastifyInstance, scorer: ScoreRoutesOptions): Promise<void> {
  const { config } = scorer;
  const routes = [
    {
      url: '/loss',
      withLosses: true,
      summary: 'Per-sample cross-entropy losses and the batch figures',
      response: lossResponseSchema,
    },
    {
      url: '/cost',
      withLosses: false,
      summary: 'The batch cost (mean loss) and figures, without per-sample losses',
      response: costResponseSchema,
    },
  ] as const;

  for (const route of routes) {
    app.post(
      route.url,
      {
        config: { scoring: true },
        schema: {
          summary: route.summary,
          description: `${route.summary}. ${SEMANTICS} Error codes: ${Object.keys(ERRORS).filter((c) => ERRORS[c as keyof typeof ERRORS].status < 500 || c === 'XENT_OVERLOADED').join(', ')}.`,
          tags: ['scoring'],
          body: jsonSchemaOf(scoreRequestSchema),
          response: {
            200: { description: 'The scores', content: { 'application/json': { schema: jsonSchemaOf(route.response) } } },
            400: problemResponse('Malformed or invalid request: bad JSON, wrong shape, out-of-range values, unknown fields'),
            401: problemResponse('Missing or invalid API key (when API keys are configured)'),
            413: problemResponse('Body larger than BODY_LIMIT, or more numbers than MAX_ELEMENTS'),
            415: problemResponse('Content-Type is not application/json'),
            422: problemResponse('A loss or the sum is not finite (for example a zero probability on the true class)'),
            503: problemResponse('Overloaded, timed out or shutting down; retry after Retry-After seconds'),
          },
        },
      },
      async (request, reply) => {
        if (!(request.body instanceof RawJsonBody)) {
          throw ProblemError.of('XENT_INVALID_BODY', '', 'there is no body: send a JSON object with Content-Type: application/json');
        }
        const job = { bytes: request.body.bytes, withLosses: route.withLosses, limits: { maxElements: config.maxElements } };
        // Both paths run the same scoreJsonBody: identical bytes, identical problems. A string is sent in one write
        // with the headers; the worker's bytes are sent as they came, uncopied.
        reply.type('application/json; charset=utf-8');
        if (job.bytes.length <= config.inlineMaxBytes) return reply.send(scoreJsonInline(job, scorer));
        const body = await scoreJsonInWorker(job, scorer);
        return reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      },
    );
  }
}

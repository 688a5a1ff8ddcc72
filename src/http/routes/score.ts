import type { FastifyInstance, FastifyReply } from 'fastify';
import type { BodyLimits } from '../../codec/body.js';
import { ERRORS, ProblemError } from '../../codec/problems.js';
import type { Dispatcher, Scored } from '../../pool/dispatch.js';
import { costResponseSchema, jsonSchemaOf, lossResponseSchema, mergeRequestDocument, problemSchema, scoreRequestDocument } from '../schemas/score.js';

export interface ScoreRoutesOptions {
  dispatcher: Dispatcher;
  limits: BodyLimits;
}

const problem = jsonSchemaOf(problemSchema);
const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problem } },
});

const SEMANTICS =
  'Semantics are PyTorch `cross_entropy` (logits) and `nll_loss(log p)` (probabilities) with the class dimension ' +
  'last, in float64 and with a relative error below 1e-13: class weights, ignore_index and label smoothing as in ' +
  'PyTorch; cost = sum / total_weight (the mean PyTorch reduction).';

/** Sends a scored answer as it came: text in one write with the headers, a worker's bytes uncopied. */
export function sendScored(reply: FastifyReply, scored: Scored): FastifyReply {
  const { body } = scored;
  reply.type(scored.contentType);
  return reply.send(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/** POST /loss and POST /cost: the body's bytes to the dispatch; the two differ only in whether losses are sent. */
export async function scoreRoutes(app: FastifyInstance, { dispatcher, limits }: ScoreRoutesOptions): Promise<void> {
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
          body: scoreRequestDocument,
          response: {
            200: { description: 'The scores', content: { 'application/json': { schema: jsonSchemaOf(route.response) } } },
            400: problemResponse('Malformed or invalid request: bad JSON, wrong shape, out-of-range values, unknown fields'),
            401: problemResponse('Missing or invalid API key (when API keys are configured)'),
            413: problemResponse('Body larger than BODY_LIMIT, or more numbers than MAX_ELEMENTS'),
            415: problemResponse('Content-Type is not application/json'),
            422: problemResponse('A loss or the sum is not finite (for example a zero probability on the true class)'),
            429: problemResponse('More than RATE_LIMIT scoring requests in the window from this client (its API key, else its address); retry after Retry-After seconds'),
            503: problemResponse('Overloaded, timed out or shutting down; retry after Retry-After seconds'),
          },
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) {
          throw ProblemError.of('XENT_INVALID_BODY', '', 'there is no body: send a JSON object with Content-Type: application/json');
        }
        const scored = dispatcher.score({ protocol: 'score', bytes: request.body, withLosses: route.withLosses, limits });
        return sendScored(reply, scored instanceof Promise ? await scored : scored);
      },
    );
  }

  app.post(
    '/merge',
    {
      config: { scoring: true },
      schema: {
        summary: 'Merge the states of batches into the figures of their union',
        description:
          'The states that answers with include: ["state"] carry (exact running sums and counts, with the options that give them meaning), merged as if every batch had been one request: the figures of POST /cost (and of the diagnostics and sequences the states hold) within 2 ulp of one request over all the data, whatever the split and the order, and the merged state for further merging. States of different options are a 400 (XENT_STATE_MISMATCH) naming the first that disagrees; a malformed or altered state is a 400 (XENT_INVALID_STATE), never a wrong number.',
        tags: ['scoring'],
        body: mergeRequestDocument,
        response: {
          200: { description: 'The figures of the union, and its state', content: { 'application/json': { schema: jsonSchemaOf(costResponseSchema) } } },
          400: problemResponse('Not states this service wrote, or states of different options'),
          401: problemResponse('Missing or invalid API key (when API keys are configured)'),
          413: problemResponse('Body larger than BODY_LIMIT'),
        },
      },
    },
    async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) {
        throw ProblemError.of('XENT_INVALID_BODY', '', 'there is no body: send {"states": [...]} with Content-Type: application/json');
      }
      const scored = dispatcher.score({ protocol: 'merge', bytes: request.body, limits });
      return sendScored(reply, scored instanceof Promise ? await scored : scored);
    },
  );
}

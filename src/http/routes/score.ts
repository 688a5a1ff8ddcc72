import { errorCodes, type FastifyInstance, type FastifyReply } from 'fastify';
import { describeBytes } from '../../byteSize.js';
import type { BodyLimits } from '../../codec/body.js';
import { ProblemError } from '../../codec/problems.js';
import { PoolUnavailableError } from '../../pool/scorePool.js';
import { problemOf, type Dispatcher, type Scored } from '../../pool/dispatch.js';
import { bodyTooLarge, TOO_LARGE_ADVICE } from '../bodyReader.js';
import { asProblem } from '../errorHandler.js';
import { rateLimited, unauthorized } from '../guards.js';
import { problemExamples, refusalOf, type Documented } from '../schemas/problemExamples.js';
import { costResponseSchema, jsonSchemaOf, lossResponseSchema, mergeRequestDocument, problemSchema, scoreRequestDocument } from '../schemas/score.js';

export interface ScoreRoutesOptions {
  dispatcher: Dispatcher;
  limits: BodyLimits;
  /** BODY_LIMIT, for the documented 413. */
  bodyLimit: number;
}

const problem = jsonSchemaOf(problemSchema);
const problemResponse = (description: string, examples: Record<string, Documented>, instance: string) => ({
  description,
  content: { 'application/problem+json': { schema: problem, examples: problemExamples(examples, instance) } },
});

const SEMANTICS =
  'Semantics are PyTorch `cross_entropy` (logits) and `nll_loss(log p)` (probabilities) with the class dimension ' +
  'last, in float64 and with a relative error below 1e-13: class weights, ignore_index and label smoothing as in ' +
  'PyTorch; cost = sum / total_weight (the mean PyTorch reduction). Errors are RFC 9457 problem documents with a ' +
  'stable `code` (the catalogue is in the Errors section of the description above).';

const LOGITS = [
  [2, 1, 0.1],
  [0.5, 2.5, 0.3],
];

/** The documented errors of POST `url`, by status, each what the service answers (see problemExamples.ts). */
function errorExamples(url: string, withLosses: boolean, limits: BodyLimits, bodyLimit: number): Record<number, Record<string, Documented>> {
  const refused = (summary: string, body: unknown): Documented => ({
    summary,
    problem: refusalOf({ protocol: 'score', bytes: Buffer.from(JSON.stringify(body)), withLosses, limits }),
    request: { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
  });
  return {
    400: {
      'a label out of range': refused('Label 3 of a sample with three classes', { logits: LOGITS, labels: [0, 3] }),
      'a misspelt field': refused('label_smooting: refused with the name meant, never ignored', { logits: LOGITS, labels: [0, 1], label_smooting: 0.1 }),
    },
    401: { 'no API key': { summary: 'API_KEYS is set and the request has no bearer key', problem: unauthorized(false) } },
    413: {
      'a body over BODY_LIMIT': {
        summary: 'A 100 MiB body: its size, the limit and what to do',
        problem: bodyTooLarge(describeBytes(100 * 1024 * 1024, 'Content-Length'), bodyLimit, TOO_LARGE_ADVICE.json),
      },
    },
    415: {
      'not JSON': {
        summary: 'Content-Type: text/plain',
        problem: asProblem(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE()),
        request: { method: 'POST', url, headers: { 'content-type': 'text/plain' }, body: { logits: LOGITS, labels: [0, 1] } },
      },
    },
    422: {
      'a zero probability on the true class': refused('log 0: the loss is infinite, so the answer names the sample', {
        probabilities: [
          [1, 0],
          [0.5, 0.5],
        ],
        labels: [1, 0],
      }),
    },
    429: { 'over RATE_LIMIT': { summary: 'RATE_LIMIT=100: the 101st request in a minute', problem: rateLimited(100, '1 minute') } },
    503: { 'the queue is full': { summary: 'Every worker busy and MAX_QUEUE tasks waiting', problem: problemOf(new PoolUnavailableError('queue-full')) } },
  };
}

/** POST /merge's documented refusals, made by the codec from the documented requests. */
function mergeExamples(limits: BodyLimits): Record<string, Documented> {
  const refused = (summary: string, body: unknown): Documented => ({
    summary,
    problem: refusalOf({ protocol: 'merge', bytes: Buffer.from(JSON.stringify(body)), limits }),
    request: { method: 'POST', url: '/merge', headers: { 'content-type': 'application/json' }, body },
  });
  return {
    'no states': refused('An empty list: nothing to merge', { states: [] }),
    'a state of another version': refused('A state the service did not write', { states: [{ v: 2 }] }),
  };
}

/** Sends a scored answer as it came: text in one write with the headers, a worker's bytes uncopied. */
export function sendScored(reply: FastifyReply, scored: Scored): FastifyReply {
  const { body } = scored;
  reply.type(scored.contentType);
  return reply.send(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/** POST /loss and POST /cost: the body's bytes to the dispatch; the two differ only in whether losses are sent. */
export async function scoreRoutes(app: FastifyInstance, { dispatcher, limits, bodyLimit }: ScoreRoutesOptions): Promise<void> {
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
    const errors = errorExamples(route.url, route.withLosses, limits, bodyLimit);
    app.post(
      route.url,
      {
        config: { scoring: true },
        schema: {
          summary: route.summary,
          description: `${route.summary}. ${SEMANTICS}`,
          tags: ['scoring'],
          body: scoreRequestDocument,
          response: {
            200: { description: 'The scores', content: { 'application/json': { schema: jsonSchemaOf(route.response) } } },
            400: problemResponse('Malformed or invalid request: bad JSON, wrong shape, out-of-range values, unknown fields', errors[400]!, route.url),
            401: problemResponse('Missing or invalid API key (when API keys are configured)', errors[401]!, route.url),
            413: problemResponse('Body larger than BODY_LIMIT, or more numbers than MAX_ELEMENTS', errors[413]!, route.url),
            415: problemResponse('Content-Type is not application/json', errors[415]!, route.url),
            422: problemResponse('A loss or the sum is not finite (for example a zero probability on the true class)', errors[422]!, route.url),
            429: problemResponse(
              'More than RATE_LIMIT scoring requests in the window from this client (its API key, else its address); retry after Retry-After seconds',
              errors[429]!,
              route.url,
            ),
            503: problemResponse('Overloaded, timed out or shutting down; retry after Retry-After seconds', errors[503]!, route.url),
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
          400: problemResponse('Not states this service wrote, or states of different options', mergeExamples(limits), '/merge'),
          401: problemResponse('Missing or invalid API key (when API keys are configured)', { 'no API key': { summary: 'API_KEYS is set and the request has no bearer key', problem: unauthorized(false) } }, '/merge'),
          413: problemResponse('Body larger than BODY_LIMIT', { 'a body over BODY_LIMIT': { summary: 'A 100 MiB body', problem: bodyTooLarge(describeBytes(100 * 1024 * 1024, 'Content-Length'), bodyLimit, TOO_LARGE_ADVICE.json) } }, '/merge'),
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

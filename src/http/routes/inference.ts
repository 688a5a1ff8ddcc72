import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BodyLimits } from '../../codec/body.js';
import { EXTENSIONS, MODEL_METADATA, MODEL_NAME, MODEL_VERSION } from '../../codec/oip/model.js';
import { ProblemError } from '../../codec/problems.js';
import { cut, excerpt } from '../../codec/text.js';
import { CONTENT_ENCODINGS, type ContentEncoding } from '../../pool/contentEncoding.js';
import type { Dispatcher } from '../../pool/dispatch.js';
import { readWholeBody, type SharedReading } from '../bodyReader.js';
import { asProblem, logProblem } from '../errorHandler.js';
import {
  inferenceErrorSchema,
  inferenceRequestSchema,
  inferenceResponseSchema,
  liveSchema,
  modelMetadataSchema,
  modelReadySchema,
  readySchema,
  serverMetadataSchema,
} from '../schemas/inference.js';
import { jsonSchemaOf } from '../schemas/score.js';
import { SERVICE_VERSION } from '../version.js';
import type { Readiness } from './health.js';
import { sendScored } from './score.js';

export interface InferenceRoutesOptions {
  dispatcher: Dispatcher;
  limits: BodyLimits;
  readiness: Readiness;
  /** The largest body, also after decompression. */
  bodyLimit: number;
  /** Where the bodies that go to a worker are read. */
  reading?: SharedReading;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const BINARY_TYPE = 'application/octet-stream';
const HEADER_LENGTH = 'inference-header-content-length';

/**
 * Content types an inference request may come with. Triton's Python client sends binary requests with no
 * Content-Type at all, and `curl --data-binary` (the usual way to send a prepared body) with its default
 * application/x-www-form-urlencoded; both are read like application/octet-stream.
 */
const ACCEPTED_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'application/x-www-form-urlencoded']);


const error = jsonSchemaOf(inferenceErrorSchema);
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: error } } });
const jsonResponse = (description: string, schema: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema } },
});

/**
 * The Open Inference Protocol v2 (KServe, Triton, Seldon MLServer) over REST, with the binary tensor data extension:
 * one model, `cross_entropy`, version 1. Encapsulated under /v2 with its own body parser, error handler and not-found
 * handler, because the protocol answers errors as `{"error": "..."}` rather than problem documents.
 */
export async function inferenceRoutes(app: FastifyInstance, options: InferenceRoutesOptions): Promise<void> {
  await app.register(v2Routes, { ...options, prefix: '/v2' });
}

async function v2Routes(app: FastifyInstance, options: InferenceRoutesOptions): Promise<void> {
  const { dispatcher, limits, readiness, bodyLimit, reading } = options;
  // Every body is read as bytes (within the app's body limit): the JSON header and any binary tensor data after it
  // are split by decodeInferenceRequest, which reads the tensors straight from this one buffer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', readWholeBody(bodyLimit, reading));
  app.setErrorHandler(handleInferenceError);
  app.setNotFoundHandler(handleInferenceNotFound);

  app.get(
    '/',
    {
      schema: {
        summary: 'Server metadata',
        description: 'Open Inference Protocol server metadata: name, version and the extensions supported (binary_tensor_data).',
        tags: ['inference'],
        response: { 200: jsonResponse('Server metadata', jsonSchemaOf(serverMetadataSchema)) },
      },
    },
    async () => ({ name: 'xent', version: SERVICE_VERSION, extensions: [...EXTENSIONS] }),
  );

  app.get(
    '/health/live',
    {
      schema: {
        summary: 'Server live',
        description: 'Open Inference Protocol liveness: 200 while the process answers.',
        tags: ['inference'],
        response: { 200: jsonResponse('Live', jsonSchemaOf(liveSchema)) },
      },
    },
    async () => ({ live: true }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        summary: 'Server ready',
        description: 'Open Inference Protocol readiness: 200 once the worker pool is up, 503 while starting or shutting down.',
        tags: ['inference'],
        response: {
          200: jsonResponse('Ready', jsonSchemaOf(readySchema)),
          503: jsonResponse('Not ready, with the reason', jsonSchemaOf(readySchema)),
        },
      },
    },
    async (_request, reply) => {
      const reason = readiness.notReadyBecause();
      if (reason === null) return { ready: true };
      return reply.code(503).header('retry-after', '1').send({ ready: false, error: reason });
    },
  );

  for (const base of ['/models/:model_name', '/models/:model_name/versions/:model_version']) {
    const versioned = base.includes(':model_version');
    const params = {
      type: 'object',
      properties: {
        model_name: { type: 'string', description: `The model: ${MODEL_NAME} is the only one.` },
        ...(versioned ? { model_version: { type: 'string', description: `The model version: ${MODEL_VERSION} is the only one.` } } : {}),
      },
      required: versioned ? ['model_name', 'model_version'] : ['model_name'],
    };
    const notFound = errorResponse('Unknown model or version');

    app.get(
      base,
      {
        onRequest: checkModel,
        schema: {
          summary: 'Model metadata',
          description:
            'Inputs and outputs of the model with datatypes and shapes (-1 = variable). The shapes show the 2-D case; ' +
            'any number of leading dimensions is accepted, floating-point inputs take FP16, BF16, FP32 or FP64 and ' +
            'labels INT32 or INT64.',
          tags: ['inference'],
          params,
          response: { 200: jsonResponse('Model metadata', jsonSchemaOf(modelMetadataSchema)), 404: notFound },
        },
      },
      async () => MODEL_METADATA,
    );

    app.get(
      `${base}/ready`,
      {
        onRequest: checkModel,
        schema: {
          summary: 'Model ready',
          description: 'Whether the model is ready for inference: 200 once the worker pool is up, else 503.',
          tags: ['inference'],
          params,
          response: {
            200: jsonResponse('Ready', jsonSchemaOf(modelReadySchema)),
            404: notFound,
            503: jsonResponse('Not ready, with the reason', jsonSchemaOf(modelReadySchema)),
          },
        },
      },
      async (_request, reply) => {
        const reason = readiness.notReadyBecause();
        if (reason === null) return { name: MODEL_NAME, ready: true };
        return reply.code(503).header('retry-after', '1').send({ name: MODEL_NAME, ready: false, error: reason });
      },
    );

    app.post(
      `${base}/infer`,
      {
        config: { scoring: true },
        onRequest: [checkModel, checkBodyHeaders],
        schema: {
          summary: 'Inference: cross-entropy of a batch',
          description:
            'Open Inference Protocol inference. Inputs by name: logits or probabilities ([..., C]; FP16, BF16, FP32, FP64), ' +
            'labels (INT32, INT64; the shape without C) or targets (floating point, the input shape), optional ' +
            'class_weights ([C]). Request parameters ignore_index, label_smoothing, epsilon and unit mean what they mean ' +
            'in POST /loss. Outputs: losses (FP64, or FP32 with the output parameter datatype), sum, cost, count (INT64), ' +
            'total_weight, perplexity, accuracy; cost, perplexity and accuracy have shape [0] when undefined. ' +
            'Binary tensor data extension: send application/octet-stream with Inference-Header-Content-Length = the length ' +
            'of the JSON header, followed by each binary input (parameters.binary_data_size) in input order, little-endian; ' +
            'ask for binary outputs with the output parameter binary_data or the request parameter binary_data_output. ' +
            'JSON data in FP32, FP16 or BF16 is rounded to that type. Errors are {"error": "...", "code": "XENT_..."}.',
          tags: ['inference'],
          params,
          body: {
            content: {
              'application/json': { schema: jsonSchemaOf(inferenceRequestSchema) },
              [BINARY_TYPE]: {
                schema: {
                  type: 'string',
                  format: 'binary',
                  description: 'The JSON inference request (Inference-Header-Content-Length bytes), then the binary tensor data.',
                },
              },
            },
          },
          response: {
            200: {
              description: 'The outputs; binary outputs follow the JSON header (Inference-Header-Content-Length bytes)',
              content: {
                'application/json': { schema: jsonSchemaOf(inferenceResponseSchema) },
                [BINARY_TYPE]: { schema: { type: 'string', format: 'binary' } },
              },
            },
            400: errorResponse('Malformed or invalid request: bad JSON, shapes, datatypes, binary data sizes, values'),
            404: notFound,
            413: errorResponse('Body larger than BODY_LIMIT, or more numbers than MAX_ELEMENTS'),
            415: errorResponse('Unsupported Content-Type or Content-Encoding'),
            422: errorResponse('A loss or the sum is not finite'),
            429: errorResponse('More than RATE_LIMIT scoring requests in the window from this client (its API key, else its address); retry after Retry-After seconds'),
            503: errorResponse('Overloaded, timed out or shutting down; retry after Retry-After seconds'),
          },
        },
      },
      async (request, reply) => {
        const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const headerLength = request.headers[HEADER_LENGTH];
        const contentEncoding = contentEncodingOf(request);
        const pending = dispatcher.score({ protocol: 'inference', bytes, headerLength, limits, contentEncoding, maxBodyBytes: bodyLimit });
        const scored = pending instanceof Promise ? await pending : pending;
        if (scored.inferenceHeaderLength !== null) reply.header(HEADER_LENGTH, String(scored.inferenceHeaderLength));
        return sendScored(reply, scored);
      },
    );
  }
}

/** Answers 404 before the body is read when the URL names another model or version. */
async function checkModel(request: FastifyRequest): Promise<void> {
  const { model_name: name, model_version: version } = request.params as { model_name: string; model_version?: string };
  if (name !== MODEL_NAME) {
    throw ProblemError.of('XENT_NOT_FOUND', '', `unknown model "${excerpt(name, 60)}"; this server serves "${MODEL_NAME}"`);
  }
  if (version !== undefined && version !== MODEL_VERSION) {
    throw ProblemError.of('XENT_NOT_FOUND', '', `model "${MODEL_NAME}" has no version "${excerpt(version, 60)}"; its only version is "${MODEL_VERSION}"`);
  }
}

/** Refuses a body of another Content-Type or Content-Encoding before it is read. */
async function checkBodyHeaders(request: FastifyRequest): Promise<void> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!ACCEPTED_TYPES.has(type)) {
    throw ProblemError.of(
      'XENT_UNSUPPORTED_MEDIA_TYPE',
      '',
      `Content-Type ${excerpt(type, 60)} is not supported; send application/json, or application/octet-stream with Inference-Header-Content-Length for binary tensor data`,
    );
  }
  const encoding = contentEncodingOf(request);
  if (!(CONTENT_ENCODINGS as readonly string[]).includes(encoding)) {
    throw ProblemError.of('XENT_UNSUPPORTED_MEDIA_TYPE', '', `Content-Encoding ${excerpt(encoding, 60)} is not supported; send gzip, deflate or identity`);
  }
}

/** The Content-Encoding as sent (checkBodyHeaders has refused any other than CONTENT_ENCODINGS). */
function contentEncodingOf(request: FastifyRequest): ContentEncoding {
  return (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase() as ContentEncoding;
}

/** Every problem as `{"error": "<pointer>: <detail>; ..."}` (the first one as the JSON API's `detail`), plus its code. */
function handleInferenceError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const problem = asProblem(error);
  logProblem(request, problem, error);
  const message = problem.issues.map((i) => (i.pointer === '' ? i.detail : `${i.pointer}: ${i.detail}`)).join('; ');
  void reply.code(problem.status).headers(problem.headers).type(JSON_TYPE).send({ error: message, code: problem.code });
}

function handleInferenceNotFound(request: FastifyRequest, reply: FastifyReply): void {
  void reply
    .code(404)
    .type(JSON_TYPE)
    .send({ error: `no route ${request.method} ${cut(request.url.split('?')[0]!)}`, code: 'XENT_NOT_FOUND' });
}

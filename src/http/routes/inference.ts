import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BodyLimits } from '../../codec/body.js';
import { EXTENSIONS, MODEL_CONFIG, MODEL_METADATA, MODEL_NAME, MODEL_VERSION } from '../../codec/oip/model.js';
import { ProblemError } from '../../codec/problems.js';
import { cut, excerpt } from '../../codec/text.js';
import { CONTENT_ENCODINGS, type ContentEncoding } from '../../pool/contentEncoding.js';
import { problemOf, type Dispatcher } from '../../pool/dispatch.js';
import { PoolUnavailableError } from '../../pool/scorePool.js';
import { describeBytes } from '../../byteSize.js';
import { methodNotAllowed } from '../allowedMethods.js';
import { bodyTooLarge, readWholeBody, TOO_LARGE_ADVICE, type SharedReading } from '../bodyReader.js';
import { rateLimited } from '../guards.js';
import { inferenceErrorExamples, refusalOf, type Documented } from '../schemas/problemExamples.js';
import { asProblem } from '../errorHandler.js';
import { sendInferenceBody, sendInferenceJson, sendInferenceProblem } from '../inferenceAnswers.js';
import {
  binaryRequestExample,
  inferenceErrorSchema,
  inferenceRequestSchema,
  inferenceResponseSchema,
  liveSchema,
  modelConfigSchema,
  modelMetadataSchema,
  modelReadySchema,
  readySchema,
  serverMetadataSchema,
} from '../schemas/inference.js';
import { jsonSchemaOf } from '../schemas/score.js';
import { SERVICE_VERSION } from '../version.js';
import type { Readiness } from './health.js';

export interface InferenceRoutesOptions {
  dispatcher: Dispatcher;
  limits: BodyLimits;
  readiness: Readiness;
  /** The largest body, also after decompression. */
  bodyLimit: number;
  /** Where the bodies that go to a worker are read. */
  reading?: SharedReading;
}

const BINARY_TYPE = 'application/octet-stream';
const HEADER_LENGTH = 'inference-header-content-length';

/**
 * Content types an inference request may come with. Triton's Python client sends binary requests with no
 * Content-Type at all, and `curl --data-binary` (the usual way to send a prepared body) with its default
 * application/x-www-form-urlencoded; both are read like application/octet-stream.
 */
const ACCEPTED_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'application/x-www-form-urlencoded']);

const error = jsonSchemaOf(inferenceErrorSchema);
const errorResponse = (description: string, examples: Record<string, Documented>) => ({
  description,
  content: { 'application/json': { schema: error, examples: inferenceErrorExamples(examples) } },
});
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
  const errors = errorExamples(limits, bodyLimit);
  // Every body is read as bytes (within the app's body limit): the JSON header and any binary tensor data after it
  // are split by decodeInferenceRequest, which reads the tensors straight from this one buffer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', readWholeBody(bodyLimit, TOO_LARGE_ADVICE.inference, reading));
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
    async (_request, reply) => sendInferenceJson(reply, { name: 'xent', version: SERVICE_VERSION, extensions: [...EXTENSIONS] }),
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
    async (_request, reply) => sendInferenceJson(reply, { live: true }),
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
      if (reason === null) return sendInferenceJson(reply, { ready: true });
      return sendInferenceJson(reply.code(503).header('retry-after', '1'), { ready: false, error: reason });
    },
  );

  for (const base of ['/models/:model_name', '/models/:model_name/versions/:model_version']) {
    const versioned = base.includes(':model_version');
    const params = {
      type: 'object',
      properties: {
        model_name: { type: 'string', default: MODEL_NAME, description: `The model: ${MODEL_NAME} is the only one.` },
        ...(versioned
          ? { model_version: { type: 'string', default: MODEL_VERSION, description: `The model version: ${MODEL_VERSION} is the only one.` } }
          : {}),
      },
      required: versioned ? ['model_name', 'model_version'] : ['model_name'],
    };
    const notFound = (method: 'GET' | 'POST', suffix: string) =>
      errorResponse('Unknown model or version', {
        'an unknown model': {
          summary: 'A model this server does not serve',
          problem: unknownModel('resnet'),
          request: { method, url: `/v2/models/resnet${suffix}`, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: {} } : {}) },
        },
      });

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
          response: { 200: jsonResponse('Model metadata', jsonSchemaOf(modelMetadataSchema)), 404: notFound('GET', '') },
        },
      },
      async (_request, reply) => sendInferenceJson(reply, MODEL_METADATA),
    );

    app.get(
      `${base}/config`,
      {
        onRequest: checkModel,
        schema: {
          summary: 'Model configuration',
          description:
            "Triton's model configuration extension: the model as Triton's ModelConfig describes it, with every input " +
            '`optional: true` (one of logits or probabilities, one of labels or targets, and optionally class_weights).',
          tags: ['inference'],
          params,
          response: { 200: jsonResponse('Model configuration', jsonSchemaOf(modelConfigSchema)), 404: notFound('GET', '/config') },
        },
      },
      async (_request, reply) => sendInferenceJson(reply, MODEL_CONFIG),
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
            404: notFound('GET', '/ready'),
            503: jsonResponse('Not ready, with the reason', jsonSchemaOf(modelReadySchema)),
          },
        },
      },
      async (_request, reply) => {
        const reason = readiness.notReadyBecause();
        if (reason === null) return sendInferenceJson(reply, { name: MODEL_NAME, ready: true });
        return sendInferenceJson(reply.code(503).header('retry-after', '1'), { name: MODEL_NAME, ready: false, error: reason });
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
                  'x-examples': { 'two samples, binary FP32 logits and INT64 labels': binaryRequestExample() },
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
            400: errorResponse('Malformed or invalid request: bad JSON, shapes, datatypes, binary data sizes, values', errors[400]!),
            404: notFound('POST', '/infer'),
            413: errorResponse('Body larger than BODY_LIMIT, or more numbers than MAX_ELEMENTS', errors[413]!),
            415: errorResponse('Unsupported Content-Type or Content-Encoding', errors[415]!),
            422: errorResponse('A loss or the sum is not finite', errors[422]!),
            429: errorResponse(
              'More than RATE_LIMIT scoring requests in the window from this client (its API key, else its address); retry after Retry-After seconds',
              errors[429]!,
            ),
            503: errorResponse('Overloaded, timed out or shutting down; retry after Retry-After seconds', errors[503]!),
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
        return sendInferenceBody(reply, scored.contentType, scored.body);
      },
    );
  }
}

const unknownModel = (name: string) =>
  ProblemError.of('XENT_NOT_FOUND', '', `unknown model "${excerpt(name, 60)}"; this server serves "${MODEL_NAME}"`);

const unsupportedType = (type: string) =>
  ProblemError.of(
    'XENT_UNSUPPORTED_MEDIA_TYPE',
    '',
    `Content-Type ${excerpt(type, 60)} is not supported; send application/json, or application/octet-stream with Inference-Header-Content-Length for binary tensor data`,
  );

/** Answers 404 before the body is read when the URL names another model or version. */
async function checkModel(request: FastifyRequest): Promise<void> {
  const { model_name: name, model_version: version } = request.params as { model_name: string; model_version?: string };
  if (name !== MODEL_NAME) throw unknownModel(name);
  if (version !== undefined && version !== MODEL_VERSION) {
    throw ProblemError.of('XENT_NOT_FOUND', '', `model "${MODEL_NAME}" has no version "${excerpt(version, 60)}"; its only version is "${MODEL_VERSION}"`);
  }
}

/** Refuses a body of another Content-Type or Content-Encoding before it is read. */
async function checkBodyHeaders(request: FastifyRequest): Promise<void> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!ACCEPTED_TYPES.has(type)) throw unsupportedType(type);
  const encoding = contentEncodingOf(request);
  if (!(CONTENT_ENCODINGS as readonly string[]).includes(encoding)) {
    throw ProblemError.of('XENT_UNSUPPORTED_MEDIA_TYPE', '', `Content-Encoding ${excerpt(encoding, 60)} is not supported; send gzip, deflate or identity`);
  }
}

const LOGITS = { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] };

/** The documented errors of the inference route, by status, each what the service answers (see problemExamples.ts). */
function errorExamples(limits: BodyLimits, bodyLimit: number): Record<number, Record<string, Documented>> {
  const refused = (summary: string, body: unknown): Documented => ({
    summary,
    problem: refusalOf({ protocol: 'inference', bytes: Buffer.from(JSON.stringify(body)), headerLength: undefined, limits }),
    request: { method: 'POST', url: `/v2/models/${MODEL_NAME}/infer`, headers: { 'content-type': 'application/json' }, body },
  });
  return {
    400: {
      'a label out of range': refused('Label 3 of a sample with three classes', {
        inputs: [LOGITS, { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 3] }],
      }),
      'a misspelt parameter': refused('label_smooting: refused, with the parameters there are', {
        parameters: { label_smooting: 0.1 },
        inputs: [LOGITS, { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] }],
      }),
    },
    413: {
      'a body over BODY_LIMIT': {
        summary: 'A 100 MiB body: its size, the limit and what to do',
        problem: bodyTooLarge(describeBytes(100 * 1024 * 1024, 'Content-Length'), bodyLimit, TOO_LARGE_ADVICE.inference),
      },
    },
    415: {
      'text/plain': {
        summary: 'A Content-Type the protocol does not use',
        problem: unsupportedType('text/plain'),
        request: { method: 'POST', url: `/v2/models/${MODEL_NAME}/infer`, headers: { 'content-type': 'text/plain' }, body: {} },
      },
    },
    422: {
      'a zero probability on the true class': refused('log 0: the loss is infinite, so the answer names the sample', {
        inputs: [
          { name: 'probabilities', shape: [2, 2], datatype: 'FP64', data: [1, 0, 0.5, 0.5] },
          { name: 'labels', shape: [2], datatype: 'INT64', data: [1, 0] },
        ],
      }),
    },
    429: { 'over RATE_LIMIT': { summary: 'RATE_LIMIT=100: the 101st request in a minute', problem: rateLimited(100, '1 minute') } },
    503: { 'the queue is full': { summary: 'Every worker busy and MAX_QUEUE tasks waiting', problem: problemOf(new PoolUnavailableError('queue-full')) } },
  };
}

/** The Content-Encoding as sent (checkBodyHeaders has refused any other than CONTENT_ENCODINGS). */
function contentEncodingOf(request: FastifyRequest): ContentEncoding {
  return (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase() as ContentEncoding;
}

/** Every problem as `{"error": "<pointer>: <detail>; ..."}` (the first one as the JSON API's `detail`), plus its code. */
function handleInferenceError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  sendInferenceProblem(request, reply, asProblem(error), error);
}

function handleInferenceNotFound(request: FastifyRequest, reply: FastifyReply): void {
  const problem = methodNotAllowed(request) ?? ProblemError.of('XENT_NOT_FOUND', '', `no route ${request.method} ${cut(request.url.split('?')[0]!)}`);
  sendInferenceProblem(request, reply, problem, problem);
}

import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';
import { INFER, binaryRequest, fp32, fp64, infer, int32, jsonRequest, type WireRequest } from './wire.js';

let app: FastifyInstance;
let small: FastifyInstance;

beforeAll(async () => {
  app = await buildTestApp();
  small = await buildTestApp({ maxElements: 4, bodyLimit: 4096 });
});

afterAll(async () => {
  await app.close();
  await small.close();
});

const LOGITS = { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [[2, 1, 0.1], [0.5, 2.5, 0.3]] };
const LABELS = { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] };
const binLogits = (size: number, datatype = 'FP32', shape = [2, 3]) => ({ name: 'logits', shape, datatype, parameters: { binary_data_size: size } });
const binLabels = (size: number) => ({ name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: size } });
const SIX = fp32([2, 1, 0.125, 0.5, 2.5, -0.375]);
const withRaw = (request: WireRequest, payload: Buffer, headers: Record<string, string> = {}): WireRequest => ({
  payload,
  headers: { ...request.headers, ...headers },
});

interface Case {
  name: string;
  request: WireRequest | Record<string, unknown>;
  status: number;
  code: string;
  error: string | RegExp;
}

const ok = binaryRequest({ inputs: [binLogits(24), binLabels(8)] }, [SIX, int32([0, 1])]);
const okHeaderLength = Number(ok.headers['inference-header-content-length']);

const binaryCases: Case[] = [
  {
    name: 'truncated body (the last tensor short by 4 bytes)',
    request: withRaw(ok, ok.payload.subarray(0, ok.payload.length - 4)),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: /^\/inputs\/1\/parameters\/binary_data_size: the body is truncated: input "labels" needs 8 bytes at offset 24 of the binary data after the \d+-byte JSON header, but the binary data has only 28 bytes$/,
  },
  {
    name: 'truncated body (the first tensor cut)',
    request: withRaw(ok, ok.payload.subarray(0, okHeaderLength + 10)),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: /the body is truncated: input "logits" needs 24 bytes at offset 0 .* has only 10 bytes$/,
  },
  {
    name: 'Inference-Header-Content-Length beyond the body',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': String(ok.payload.length + 1) }),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: `Inference-Header-Content-Length is ${ok.payload.length + 1}, but the body has only ${ok.payload.length} bytes`,
  },
  {
    name: 'Inference-Header-Content-Length not a number',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': '12abc' }),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: 'Inference-Header-Content-Length must be a byte count, got "12abc"',
  },
  {
    name: 'Inference-Header-Content-Length shorter than the JSON',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': String(okHeaderLength - 5) }),
    status: 400,
    code: 'XENT_INVALID_JSON',
    error: new RegExp(`\\(in the first ${okHeaderLength - 5} bytes, as Inference-Header-Content-Length says\\)$`),
  },
  {
    name: 'Inference-Header-Content-Length of 0',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': '0' }),
    status: 400,
    code: 'XENT_INVALID_JSON',
    error: 'the JSON header is empty (Inference-Header-Content-Length is 0)',
  },
  {
    name: 'binary data without Inference-Header-Content-Length',
    request: { payload: ok.payload, headers: { 'content-type': 'application/octet-stream' } },
    status: 400,
    code: 'XENT_INVALID_JSON',
    error: /after JSON at position \d+.*; a body with binary tensor data needs the Inference-Header-Content-Length header$/,
  },
  {
    name: 'binary_data_size with no binary data and no Inference-Header-Content-Length',
    request: jsonRequest({ inputs: [binLogits(24), LABELS] }),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error:
      '/inputs/0/parameters/binary_data_size: input "logits" has binary data, but the request has no Inference-Header-Content-Length header to say where the JSON header ends',
  },
  {
    name: 'binary_data_size disagreeing with the shape',
    request: binaryRequest({ inputs: [binLogits(20), binLabels(8)] }, [SIX.subarray(0, 20), int32([0, 1])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: '/inputs/0/parameters/binary_data_size: input "logits" declares 20 bytes of binary data, but shape [2, 3] of FP32 takes 24 (6 × 4 bytes)',
  },
  {
    name: 'binary_data_size of FP64 data declared as FP32',
    request: binaryRequest({ inputs: [binLogits(48), binLabels(8)] }, [fp64([2, 1, 0.125, 0.5, 2.5, -0.375]), int32([0, 1])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: '/inputs/0/parameters/binary_data_size: input "logits" declares 48 bytes of binary data, but shape [2, 3] of FP32 takes 24 (6 × 4 bytes)',
  },
  {
    name: 'a shape that disagrees with the binary data (labels [3] for 2 samples)',
    request: binaryRequest({ inputs: [binLogits(24), { ...binLabels(12), shape: [3] }] }, [SIX, int32([0, 1, 2])]),
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/1/shape: input "labels" has shape [3]; expected [2] (the shape of logits without its class dimension)',
  },
  {
    name: 'bytes after the binary data',
    request: binaryRequest({ inputs: [binLogits(24), binLabels(8)] }, [SIX, int32([0, 1]), Buffer.from([1, 2, 3, 4])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: /^4 bytes after the binary tensor data belong to no input: the inputs declare 32 bytes of binary data and the body has 36 after the \d+-byte JSON header$/,
  },
  {
    name: 'a negative binary_data_size',
    request: binaryRequest({ inputs: [binLogits(-24), binLabels(8)] }, [SIX, int32([0, 1])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    error: '/inputs/0/parameters/binary_data_size: binary_data_size must be a byte count, got a number (-24)',
  },
  {
    name: 'both data and binary_data_size',
    request: binaryRequest({ inputs: [{ ...binLogits(24), data: [1, 2, 3, 4, 5, 6] }, binLabels(8)] }, [SIX, int32([0, 1])]),
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    error: '/inputs/0/data: input "logits" has both data and binary_data_size; give one',
  },
  {
    name: 'neither data nor binary_data_size',
    request: { inputs: [{ name: 'logits', shape: [2, 3], datatype: 'FP64' }, LABELS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    error: '/inputs/0: input "logits" has neither data nor parameters.binary_data_size',
  },
];

const datatypeAndNameCases: Case[] = [
  {
    name: 'an unknown datatype',
    request: { inputs: [{ ...LOGITS, datatype: 'FLOAT32' }, LABELS] },
    status: 400,
    code: 'XENT_UNSUPPORTED_DATATYPE',
    error: '/inputs/0/datatype: "FLOAT32" is not an Open Inference Protocol datatype; input "logits" accepts FP64, FP32, FP16, BF16',
  },
  {
    name: 'a protocol datatype the input does not take (UINT8 logits)',
    request: binaryRequest({ inputs: [binLogits(6, 'UINT8'), binLabels(8)] }, [Buffer.alloc(6), int32([0, 1])]),
    status: 400,
    code: 'XENT_UNSUPPORTED_DATATYPE',
    error: '/inputs/0/datatype: input "logits" cannot be UINT8; input "logits" accepts FP64, FP32, FP16, BF16',
  },
  {
    name: 'floating-point labels',
    request: { inputs: [LOGITS, { ...LABELS, datatype: 'FP32' }] },
    status: 400,
    code: 'XENT_UNSUPPORTED_DATATYPE',
    error: '/inputs/1/datatype: input "labels" cannot be FP32; input "labels" accepts INT64, INT32',
  },
  {
    name: 'no datatype',
    request: { inputs: [{ name: 'logits', shape: [2, 3], data: LOGITS.data }, LABELS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    error: '/inputs/0/datatype: input "logits" needs a datatype (FP64, FP32, FP16, BF16), got nothing',
  },
  {
    name: 'a wrong tensor name',
    request: { inputs: [{ ...LOGITS, name: 'logit' }, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    error: '/inputs/0/name: unknown input "logit"; the inputs are logits, probabilities, labels, targets, class_weights',
  },
  {
    name: 'a duplicate input',
    request: { inputs: [LOGITS, LABELS, LABELS] },
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    error: '/inputs/2/name: input "labels" is given twice (inputs 1 and 2)',
  },
  {
    name: 'logits and probabilities both',
    request: { inputs: [LOGITS, { ...LOGITS, name: 'probabilities' }, LABELS] },
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    error: '/inputs/1: give either logits or probabilities, not both',
  },
  {
    name: 'no labels or targets',
    request: { inputs: [LOGITS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    error: '/inputs: one of labels or targets is required',
  },
  {
    name: 'no inputs',
    request: { id: '1' },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    error: '/inputs: inputs is required: logits or probabilities, labels or targets, and optionally class_weights',
  },
  {
    name: 'an input without a name',
    request: { inputs: [{ shape: [2, 3], datatype: 'FP64', data: LOGITS.data }, LABELS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    error: '/inputs/0/name: an input needs a name, got nothing',
  },
];

const shapeAndDataCases: Case[] = [
  {
    name: 'a 1-D input',
    request: { inputs: [{ ...LOGITS, shape: [6], data: [1, 2, 3, 4, 5, 6] }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/0/shape: input "logits" has shape [6]; expected at least 2 dimensions [N, C] with the class dimension last',
  },
  {
    name: 'zero classes',
    request: { inputs: [{ ...LOGITS, shape: [2, 0], data: [] }, LABELS] },
    status: 400,
    code: 'XENT_EMPTY_INPUT',
    error: '/inputs/0/shape/1: no classes: every dimension needs at least one entry',
  },
  {
    name: 'an empty batch',
    request: { inputs: [{ ...LOGITS, shape: [0, 3], data: [] }, { ...LABELS, shape: [0], data: [] }] },
    status: 400,
    code: 'XENT_EMPTY_INPUT',
    error: '/inputs/0/shape/0: the batch is empty: every dimension needs at least one entry',
  },
  {
    name: 'a negative dimension',
    request: { inputs: [{ ...LOGITS, shape: [2, -3] }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/0/shape/1: input "logits": a dimension must be a non-negative integer, got a number (-3)',
  },
  {
    name: 'class weights of the wrong length',
    request: { inputs: [LOGITS, LABELS, { name: 'class_weights', shape: [2], datatype: 'FP64', data: [1, 2] }] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/2/shape: input "class_weights" has shape [2]; expected [3] (one weight per class of logits)',
  },
  {
    name: 'targets of the wrong shape',
    request: { inputs: [LOGITS, { name: 'targets', shape: [2, 2], datatype: 'FP64', data: [1, 0, 0, 1] }] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/1/shape: input "targets" has shape [2, 2]; expected [2, 3] (the shape of logits)',
  },
  {
    name: 'flat data shorter than the shape',
    request: { inputs: [{ ...LOGITS, data: [1, 2, 3, 4, 5] }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/0/data: input "logits" has 5 values, but shape [2, 3] holds 6',
  },
  {
    name: 'data that is not an array',
    request: { inputs: [{ ...LOGITS, data: 'AAAA' }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    error: '/inputs/0/data: input "logits": data must be an array, got a string ("AAAA")',
  },
  {
    name: 'a FP16 JSON value beyond the FP16 range',
    request: { inputs: [{ ...LOGITS, datatype: 'FP16', data: [[70000, 1, 0], [0, 1, 2]] }, LABELS] },
    status: 400,
    code: 'XENT_NUMBER_OUT_OF_RANGE',
    error: '/logits/0/0: 70000 is outside the FP16 range',
  },
  {
    name: 'a INT32 JSON label beyond the INT32 range',
    request: { inputs: [LOGITS, { ...LABELS, datatype: 'INT32', data: [0, 3e9] }] },
    status: 400,
    code: 'XENT_NUMBER_OUT_OF_RANGE',
    error: '/labels/1: 3000000000 is outside the INT32 range',
  },
];

const parameterCases: Case[] = [
  {
    name: 'epsilon with logits',
    request: { parameters: { epsilon: 0.1 }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    error: '/parameters/epsilon: epsilon applies to probabilities only',
  },
  {
    name: 'ignore_index with targets',
    request: { parameters: { ignore_index: 1 }, inputs: [LOGITS, { name: 'targets', shape: [2, 3], datatype: 'FP64', data: [1, 0, 0, 0, 1, 0] }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    error: '/parameters/ignore_index: ignore_index applies to labels only',
  },
  {
    name: 'a misspelt request parameter',
    request: { parameters: { label_smooting: 0.1 }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    error:
      '/parameters/label_smooting: unknown request parameter "label_smooting"; the request parameters are ignore_index, label_smoothing, epsilon, unit, binary_data_output, priority, timeout, content_type',
  },
  {
    name: 'a sequence parameter (this model is stateless)',
    request: { parameters: { sequence_id: 3 }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    error: /^\/parameters\/sequence_id: unknown request parameter "sequence_id"/,
  },
  {
    name: 'binary_data_output not a boolean',
    request: { parameters: { binary_data_output: 'yes' }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    error: '/parameters/binary_data_output: binary_data_output must be a boolean, got a string ("yes")',
  },
  {
    name: 'an unknown output',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'loss' }] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    error: '/outputs/0/name: unknown output "loss"; the outputs are losses, sum, cost, count, total_weight, perplexity, accuracy',
  },
  {
    name: 'a duplicate output',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'cost' }, { name: 'sum' }, { name: 'cost' }] },
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    error: '/outputs/2/name: output "cost" is requested twice (outputs 0 and 2)',
  },
  {
    name: 'a datatype for an output other than losses',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'cost', parameters: { datatype: 'FP32' } }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    error: '/outputs/0/parameters/datatype: datatype applies to losses only; cost is FP64',
  },
  {
    name: 'FP16 losses',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'losses', parameters: { datatype: 'FP16' } }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    error: '/outputs/0/parameters/datatype: losses can be FP64 or FP32, got a string ("FP16")',
  },
  {
    name: 'the classification extension',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'losses', parameters: { classification: 2 } }] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    error: '/outputs/0/parameters/classification: unknown output parameter "classification"; the output parameters are binary_data, datatype',
  },
  {
    name: 'an unknown top-level field',
    request: { input: [], inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    error: '/input: unknown field "input"; an inference request has id, parameters, inputs and outputs',
  },
  {
    name: 'a __proto__ key',
    request: { payload: Buffer.from(`{"__proto__": {"x": 1}, "inputs": ${JSON.stringify([LOGITS, LABELS])}}`), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_FORBIDDEN_KEY',
    error: '/__proto__: the key "__proto__" is not allowed',
  },
  {
    name: 'an id that is not a string',
    request: { id: 42, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_BAD_REQUEST',
    error: '/id: id must be a string, got a number (42)',
  },
  {
    name: 'a model_name that is not the URL’s',
    request: { model_name: 'resnet', inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_BAD_REQUEST',
    error: '/model_name: model_name must be "cross_entropy" (the model in the URL), got a string ("resnet")',
  },
];

const bodyCases: Case[] = [
  {
    name: 'a body that is not JSON',
    request: { payload: Buffer.from('{"inputs": ['), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_INVALID_JSON',
    error: /JSON/,
  },
  {
    name: 'a JSON array',
    request: { payload: Buffer.from('[1, 2]'), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_INVALID_BODY',
    error: 'the inference request must be a JSON object, got an array',
  },
  {
    name: 'an empty body',
    request: { payload: Buffer.alloc(0), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_INVALID_JSON',
    error: 'the body is empty',
  },
  {
    name: 'an unsupported Content-Type',
    request: { payload: Buffer.from('{}'), headers: { 'content-type': 'multipart/form-data; boundary=x' } },
    status: 415,
    code: 'XENT_UNSUPPORTED_MEDIA_TYPE',
    error:
      'Content-Type multipart/form-data is not supported; send application/json, or application/octet-stream with Inference-Header-Content-Length for binary tensor data',
  },
  {
    name: 'an unsupported Content-Encoding',
    request: withRaw(ok, ok.payload, { 'content-encoding': 'br' }),
    status: 415,
    code: 'XENT_UNSUPPORTED_MEDIA_TYPE',
    error: 'Content-Encoding br is not supported; send gzip, deflate or identity',
  },
  {
    name: 'a body that is not gzip though Content-Encoding says so',
    request: withRaw(ok, ok.payload, { 'content-encoding': 'gzip' }),
    status: 400,
    code: 'XENT_BAD_REQUEST',
    error: 'the body is not valid gzip data, as Content-Encoding says',
  },
];

describe.each([
  ['binary framing', binaryCases],
  ['datatypes and tensor names', datatypeAndNameCases],
  ['shapes and JSON data', shapeAndDataCases],
  ['parameters, outputs and fields', parameterCases],
  ['the body', bodyCases],
])('OIP errors - %s', (_, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s - a 4xx naming the problem', async (_, c) => {
    const result = await infer(app, c.request);
    expect(result.status, JSON.stringify(result.json)).toBe(c.status);
    expect(result.code).toBe(c.code);
    expect(Object.keys(result.json).sort()).toEqual(['code', 'error']);
    if (typeof c.error === 'string') expect(result.error).toBe(c.error);
    else expect(result.error).toMatch(c.error);
    expect(result.headers['content-type']).toMatch(/^application\/json/);
  });
});

describe('OIP errors - the same messages as the JSON API', () => {
  /** The JSON API's detail for the same problem; the OIP message is the same text at the OIP place. */
  async function expectSameMessage(loss: Record<string, unknown>, request: Record<string, unknown>, map = (d: string) => d) {
    const json = await post(app, '/loss', loss);
    const result = await infer(app, request);
    expect(json.status).toBeGreaterThanOrEqual(400);
    expect(result.status).toBe(json.status);
    expect(result.code).toBe(json.body.code);
    expect(result.error).toBe(map(json.body.detail as string));
  }

  const logits = LOGITS.data;

  it('label out of range - identical', async () => {
    await expectSameMessage({ logits, labels: [0, 5] }, { inputs: [LOGITS, { ...LABELS, data: [0, 5] }] });
  });

  it('label not an integer - identical', async () => {
    await expectSameMessage({ logits, labels: [0, 1.5] }, { inputs: [LOGITS, { ...LABELS, data: [0, 1.5] }] });
  });

  it('ragged nested data - identical', async () => {
    const ragged = [[2, 1, 0.1], [0.5, 2.5]];
    await expectSameMessage({ logits: ragged, labels: [0, 1] }, { inputs: [{ ...LOGITS, data: ragged }, LABELS] });
  });

  it('a string among the numbers - identical', async () => {
    const bad = [[2, 'x', 0.1], [0.5, 2.5, 0.3]];
    await expectSameMessage({ logits: bad, labels: [0, 1] }, { inputs: [{ ...LOGITS, data: bad }, LABELS] });
  });

  it('1e400 (overflows float64 when parsed) - identical', async () => {
    const body = (field: string) =>
      `{${field}: [[2, 1e400, 0.1], [0.5, 2.5, 0.3]]${field === '"logits"' ? ', "labels": [0, 1]' : ''}`;
    const json = await app.inject({ method: 'POST', url: '/loss', payload: `${body('"logits"')}}`, headers: { 'content-type': 'application/json' } });
    const oip = `{"inputs": [{"name": "logits", "shape": [2, 3], "datatype": "FP64", "data": [[2, 1e400, 0.1], [0.5, 2.5, 0.3]]}, ${JSON.stringify(LABELS)}]}`;
    const result = await infer(app, { payload: Buffer.from(oip), headers: { 'content-type': 'application/json' } });
    expect(result.status).toBe(400);
    expect(result.error).toBe(json.json().detail);
  });

  it('probabilities not summing to 1 and a negative class weight - identical, both listed', async () => {
    const probabilities = [[0.5, 0.2, 0.1], [0.1, 0.8, 0.1]];
    await expectSameMessage(
      { probabilities, labels: [0, 1] },
      { inputs: [{ ...LOGITS, name: 'probabilities', data: probabilities }, LABELS] },
    );
    const json = await post(app, '/loss', { logits, labels: [0, 1], class_weights: [1, -2, 1] });
    const result = await infer(app, { inputs: [LOGITS, LABELS, { name: 'class_weights', shape: [3], datatype: 'FP64', data: [1, -2, 1] }] });
    expect(result.error).toBe(json.body.detail);
  });

  it.each([
    ['label_smoothing', 2],
    ['label_smoothing', 'x'],
    ['unit', 'nits'],
    ['ignore_index', 1.5],
    ['epsilon', 0.7],
  ] as const)('option %s = %s - the same zod message as the JSON API', async (option, value) => {
    const inputs = option === 'epsilon' ? [{ ...LOGITS, name: 'probabilities', data: [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]] }, LABELS] : [LOGITS, LABELS];
    const loss = option === 'epsilon' ? { probabilities: [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], labels: [0, 1] } : { logits, labels: [0, 1] };
    await expectSameMessage({ ...loss, [option]: value }, { parameters: { [option]: value }, inputs }, (d) => `/parameters${d}`);
  });

  it('a zero probability on the true class - 422, identical', async () => {
    const probabilities = [[0, 0.5, 0.5], [0.1, 0.8, 0.1]];
    await expectSameMessage(
      { probabilities, labels: [0, 1] },
      { inputs: [{ ...LOGITS, name: 'probabilities', data: probabilities }, LABELS] },
    );
  });

  it('a loss beyond the FP32 range with FP32 losses requested - 422 naming the sample', async () => {
    const result = await infer(app, {
      inputs: [{ ...LOGITS, data: [[0, 1e300, 0], [1, 2, 3]] }, LABELS],
      outputs: [{ name: 'losses', parameters: { datatype: 'FP32' } }],
    });
    expect(result.status).toBe(422);
    expect(result.code).toBe('XENT_NON_FINITE_RESULT');
    expect(result.error).toBe('/logits/0: the loss of sample [0] exceeds the FP32 range; request FP64 losses');
  });
});

describe('OIP errors - limits', () => {
  it('more numbers than MAX_ELEMENTS - 413 before anything is allocated', async () => {
    const result = await infer(small, binaryRequest({ inputs: [binLogits(24), binLabels(8)] }, [SIX, int32([0, 1])]));
    expect(result.status).toBe(413);
    expect(result.code).toBe('XENT_TOO_MANY_ELEMENTS');
    expect(result.error).toBe('/inputs/0/shape: 6 numbers (shape [2, 3]) exceed the limit of 4');
  });

  it('a shape of 10^15 numbers declared with a few bytes - 413, not an allocation', async () => {
    const result = await infer(app, binaryRequest({ inputs: [binLogits(8, 'FP64', [1e9, 1e6]), binLabels(8)] }, [fp64([1]), int32([0, 1])]));
    expect(result.status).toBe(413);
    expect(result.error).toMatch(/^\/inputs\/0\/shape: 1000000000000000 numbers \(shape \[1000000000, 1000000\]\) exceed the limit of \d+$/);
  });

  it('a body over BODY_LIMIT - 413', async () => {
    const result = await infer(small, binaryRequest({ inputs: [binLogits(8000, 'FP64', [1, 1000]), binLabels(4)] }, [Buffer.alloc(8000), int32([0])]));
    expect(result.status).toBe(413);
    expect(result.error).toBe('the request body exceeds the configured limit');
  });

  it('a gzip body that inflates beyond BODY_LIMIT - 413', async () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    const result = await infer(small, { payload: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(result.status).toBe(413);
    expect(result.error).toBe('the decompressed request body exceeds the configured limit');
  });
});

describe('OIP errors - no malformed request gives a 5xx', () => {
  it('random truncations, byte flips and header lengths of a valid binary request - always a 200 or a 4xx with an error', async () => {
    const valid = binaryRequest(
      { inputs: [binLogits(24), { ...binLabels(8), datatype: 'INT32' }], parameters: { binary_data_output: true } },
      [SIX, int32([0, 1])],
    );
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: valid.payload.length }),
        fc.array(fc.tuple(fc.nat({ max: valid.payload.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.option(fc.integer({ min: -2, max: valid.payload.length + 2 })),
        async (cut, flips, headerLength) => {
          const payload = Buffer.from(valid.payload.subarray(0, cut));
          for (const [at, byte] of flips) if (at < payload.length) payload[at] = byte;
          const headers = { ...valid.headers };
          if (headerLength !== null) headers['inference-header-content-length'] = String(headerLength);
          const res = await app.inject({ method: 'POST', url: INFER, payload, headers });
          if (res.statusCode >= 500) throw new Error(`${res.statusCode} ${res.body}`);
          if (res.statusCode >= 400 && typeof res.json().error !== 'string') throw new Error(`no error message: ${res.body}`);
          return true;
        },
      ),
      { numRuns: 400 },
    );
  });
});

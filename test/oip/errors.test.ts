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

/**
 * A bad request and what the answer must say: its status, its catalogue code, and the place it names, the JSON pointer
 * that leads the error message ('' when the problem is the whole body). Wording is free to improve; the code and the
 * place are the contract, as in the JSON API's catalogue.
 */
interface Case {
  name: string;
  request: WireRequest | Record<string, unknown>;
  status: number;
  code: string;
  pointer: string;
}

/** The place an inference-protocol error names: the JSON pointer before its first ': ', or '' for the whole body. */
function placeOf(error: string | undefined): string | undefined {
  if (error === undefined) return undefined;
  return error.startsWith('/') ? error.slice(0, error.indexOf(': ')) : '';
}

const ok = binaryRequest({ inputs: [binLogits(24), binLabels(8)] }, [SIX, int32([0, 1])]);
const okHeaderLength = Number(ok.headers['inference-header-content-length']);

const binaryCases: Case[] = [
  {
    name: 'truncated body (the last tensor short by 4 bytes)',
    request: withRaw(ok, ok.payload.subarray(0, ok.payload.length - 4)),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '/inputs/1/parameters/binary_data_size',
  },
  {
    name: 'truncated body (the first tensor cut)',
    request: withRaw(ok, ok.payload.subarray(0, okHeaderLength + 10)),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '/inputs/0/parameters/binary_data_size',
  },
  {
    name: 'Inference-Header-Content-Length beyond the body',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': String(ok.payload.length + 1) }),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '',
  },
  {
    name: 'Inference-Header-Content-Length not a number',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': '12abc' }),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '',
  },
  {
    name: 'Inference-Header-Content-Length shorter than the JSON',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': String(okHeaderLength - 5) }),
    status: 400,
    code: 'XENT_INVALID_JSON',
    pointer: '',
  },
  {
    name: 'Inference-Header-Content-Length of 0',
    request: withRaw(ok, ok.payload, { 'inference-header-content-length': '0' }),
    status: 400,
    code: 'XENT_INVALID_JSON',
    pointer: '',
  },
  {
    name: 'binary data without Inference-Header-Content-Length',
    request: { payload: ok.payload, headers: { 'content-type': 'application/octet-stream' } },
    status: 400,
    code: 'XENT_INVALID_JSON',
    pointer: '',
  },
  {
    name: 'binary_data_size with no binary data and no Inference-Header-Content-Length',
    request: jsonRequest({ inputs: [binLogits(24), LABELS] }),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '/inputs/0/parameters/binary_data_size',
  },
  {
    name: 'binary_data_size disagreeing with the shape',
    request: binaryRequest({ inputs: [binLogits(20), binLabels(8)] }, [SIX.subarray(0, 20), int32([0, 1])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '/inputs/0/parameters/binary_data_size',
  },
  {
    name: 'binary_data_size of FP64 data declared as FP32',
    request: binaryRequest({ inputs: [binLogits(48), binLabels(8)] }, [fp64([2, 1, 0.125, 0.5, 2.5, -0.375]), int32([0, 1])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '/inputs/0/parameters/binary_data_size',
  },
  {
    name: 'a shape that disagrees with the binary data (labels [3] for 2 samples)',
    request: binaryRequest({ inputs: [binLogits(24), { ...binLabels(12), shape: [3] }] }, [SIX, int32([0, 1, 2])]),
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/1/shape',
  },
  {
    name: 'bytes after the binary data',
    request: binaryRequest({ inputs: [binLogits(24), binLabels(8)] }, [SIX, int32([0, 1]), Buffer.from([1, 2, 3, 4])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '',
  },
  {
    name: 'a negative binary_data_size',
    request: binaryRequest({ inputs: [binLogits(-24), binLabels(8)] }, [SIX, int32([0, 1])]),
    status: 400,
    code: 'XENT_INVALID_BINARY_DATA',
    pointer: '/inputs/0/parameters/binary_data_size',
  },
  {
    name: 'both data and binary_data_size',
    request: binaryRequest({ inputs: [{ ...binLogits(24), data: [1, 2, 3, 4, 5, 6] }, binLabels(8)] }, [SIX, int32([0, 1])]),
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    pointer: '/inputs/0/data',
  },
  {
    name: 'neither data nor binary_data_size',
    request: { inputs: [{ name: 'logits', shape: [2, 3], datatype: 'FP64' }, LABELS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    pointer: '/inputs/0',
  },
];

const datatypeAndNameCases: Case[] = [
  {
    name: 'an unknown datatype',
    request: { inputs: [{ ...LOGITS, datatype: 'FLOAT32' }, LABELS] },
    status: 400,
    code: 'XENT_UNSUPPORTED_DATATYPE',
    pointer: '/inputs/0/datatype',
  },
  {
    name: 'a protocol datatype the input does not take (UINT8 logits)',
    request: binaryRequest({ inputs: [binLogits(6, 'UINT8'), binLabels(8)] }, [Buffer.alloc(6), int32([0, 1])]),
    status: 400,
    code: 'XENT_UNSUPPORTED_DATATYPE',
    pointer: '/inputs/0/datatype',
  },
  {
    name: 'floating-point labels',
    request: { inputs: [LOGITS, { ...LABELS, datatype: 'FP32' }] },
    status: 400,
    code: 'XENT_UNSUPPORTED_DATATYPE',
    pointer: '/inputs/1/datatype',
  },
  {
    name: 'no datatype',
    request: { inputs: [{ name: 'logits', shape: [2, 3], data: LOGITS.data }, LABELS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    pointer: '/inputs/0/datatype',
  },
  {
    name: 'a wrong tensor name',
    request: { inputs: [{ ...LOGITS, name: 'logit' }, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    pointer: '/inputs/0/name',
  },
  {
    name: 'a duplicate input',
    request: { inputs: [LOGITS, LABELS, LABELS] },
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    pointer: '/inputs/2/name',
  },
  {
    name: 'logits and probabilities both',
    request: { inputs: [LOGITS, { ...LOGITS, name: 'probabilities' }, LABELS] },
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    pointer: '/inputs/1',
  },
  {
    name: 'no labels or targets',
    request: { inputs: [LOGITS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    pointer: '/inputs',
  },
  {
    name: 'no inputs',
    request: { id: '1' },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    pointer: '/inputs',
  },
  {
    name: 'an input without a name',
    request: { inputs: [{ shape: [2, 3], datatype: 'FP64', data: LOGITS.data }, LABELS] },
    status: 400,
    code: 'XENT_MISSING_FIELD',
    pointer: '/inputs/0/name',
  },
];

const shapeAndDataCases: Case[] = [
  {
    name: 'a 1-D input',
    request: { inputs: [{ ...LOGITS, shape: [6], data: [1, 2, 3, 4, 5, 6] }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/0/shape',
  },
  {
    name: 'zero classes',
    request: { inputs: [{ ...LOGITS, shape: [2, 0], data: [] }, LABELS] },
    status: 400,
    code: 'XENT_EMPTY_INPUT',
    pointer: '/inputs/0/shape/1',
  },
  {
    name: 'an empty batch',
    request: { inputs: [{ ...LOGITS, shape: [0, 3], data: [] }, { ...LABELS, shape: [0], data: [] }] },
    status: 400,
    code: 'XENT_EMPTY_INPUT',
    pointer: '/inputs/0/shape/0',
  },
  {
    name: 'a negative dimension',
    request: { inputs: [{ ...LOGITS, shape: [2, -3] }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/0/shape/1',
  },
  {
    name: 'class weights of the wrong length',
    request: { inputs: [LOGITS, LABELS, { name: 'class_weights', shape: [2], datatype: 'FP64', data: [1, 2] }] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/2/shape',
  },
  {
    name: 'targets of the wrong shape',
    request: { inputs: [LOGITS, { name: 'targets', shape: [2, 2], datatype: 'FP64', data: [1, 0, 0, 1] }] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/1/shape',
  },
  {
    name: 'flat data shorter than the shape',
    request: { inputs: [{ ...LOGITS, data: [1, 2, 3, 4, 5] }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/0/data',
  },
  {
    name: 'data that is not an array',
    request: { inputs: [{ ...LOGITS, data: 'AAAA' }, LABELS] },
    status: 400,
    code: 'XENT_INVALID_SHAPE',
    pointer: '/inputs/0/data',
  },
  {
    name: 'a FP16 JSON value beyond the FP16 range',
    request: { inputs: [{ ...LOGITS, datatype: 'FP16', data: [[70000, 1, 0], [0, 1, 2]] }, LABELS] },
    status: 400,
    code: 'XENT_NUMBER_OUT_OF_RANGE',
    pointer: '/logits/0/0',
  },
  {
    name: 'a INT32 JSON label beyond the INT32 range',
    request: { inputs: [LOGITS, { ...LABELS, datatype: 'INT32', data: [0, 3e9] }] },
    status: 400,
    code: 'XENT_NUMBER_OUT_OF_RANGE',
    pointer: '/labels/1',
  },
];

const parameterCases: Case[] = [
  {
    name: 'epsilon with logits',
    request: { parameters: { epsilon: 0.1 }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    pointer: '/parameters/epsilon',
  },
  {
    name: 'ignore_index with targets',
    request: { parameters: { ignore_index: 1 }, inputs: [LOGITS, { name: 'targets', shape: [2, 3], datatype: 'FP64', data: [1, 0, 0, 0, 1, 0] }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    pointer: '/parameters/ignore_index',
  },
  {
    name: 'a misspelt request parameter',
    request: { parameters: { label_smooting: 0.1 }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    pointer: '/parameters/label_smooting',
  },
  {
    // sequence_id, sequence_start and sequence_end are accepted and ignored (test/oip/interop.test.ts).
    name: "a parameter of Triton's own that xent does not read",
    request: { parameters: { triton_enable_empty_final_response: true }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    pointer: '/parameters/triton_enable_empty_final_response',
  },
  {
    name: 'binary_data_output not a boolean',
    request: { parameters: { binary_data_output: 'yes' }, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    pointer: '/parameters/binary_data_output',
  },
  {
    name: 'an unknown output',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'loss' }] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    pointer: '/outputs/0/name',
  },
  {
    name: 'a duplicate output',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'cost' }, { name: 'sum' }, { name: 'cost' }] },
    status: 400,
    code: 'XENT_CONFLICTING_FIELDS',
    pointer: '/outputs/2/name',
  },
  {
    name: 'a datatype for an output other than losses',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'cost', parameters: { datatype: 'FP32' } }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    pointer: '/outputs/0/parameters/datatype',
  },
  {
    name: 'FP16 losses',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'losses', parameters: { datatype: 'FP16' } }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    pointer: '/outputs/0/parameters/datatype',
  },
  {
    // Classification applies to the model output, logits or probabilities (test/oip/interop.test.ts).
    name: 'classification on a figure',
    request: { inputs: [LOGITS, LABELS], outputs: [{ name: 'losses', parameters: { classification: 2 } }] },
    status: 400,
    code: 'XENT_INVALID_OPTION',
    pointer: '/outputs/0/parameters/classification',
  },
  {
    name: 'an unknown top-level field',
    request: { input: [], inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_UNKNOWN_FIELD',
    pointer: '/input',
  },
  {
    name: 'a __proto__ key',
    request: { payload: Buffer.from(`{"__proto__": {"x": 1}, "inputs": ${JSON.stringify([LOGITS, LABELS])}}`), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_FORBIDDEN_KEY',
    pointer: '/__proto__',
  },
  {
    name: 'inputs given twice',
    request: { payload: Buffer.from(`{"inputs": ${JSON.stringify([LOGITS, LABELS])}, "inputs": ${JSON.stringify([LOGITS, LABELS])}}`), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_DUPLICATE_FIELD',
    pointer: '/inputs',
  },
  {
    name: 'a key twice in an input',
    request: {
      payload: Buffer.from(`{"inputs": [{"name": "logits", "name": "labels", "shape": [1, 2], "datatype": "FP64", "data": [0, 1]}, ${JSON.stringify(LABELS)}]}`),
      headers: { 'content-type': 'application/json' },
    },
    status: 400,
    code: 'XENT_DUPLICATE_FIELD',
    pointer: '/inputs/0/name',
  },
  {
    name: 'an id that is not a string',
    request: { id: 42, inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_BAD_REQUEST',
    pointer: '/id',
  },
  {
    name: 'a model_name that is not the URL’s',
    request: { model_name: 'resnet', inputs: [LOGITS, LABELS] },
    status: 400,
    code: 'XENT_BAD_REQUEST',
    pointer: '/model_name',
  },
];

const bodyCases: Case[] = [
  {
    name: 'a body that is not JSON',
    request: { payload: Buffer.from('{"inputs": ['), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_INVALID_JSON',
    pointer: '',
  },
  {
    name: 'a JSON array',
    request: { payload: Buffer.from('[1, 2]'), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_INVALID_BODY',
    pointer: '',
  },
  {
    name: 'an empty body',
    request: { payload: Buffer.alloc(0), headers: { 'content-type': 'application/json' } },
    status: 400,
    code: 'XENT_INVALID_JSON',
    pointer: '',
  },
  {
    name: 'an unsupported Content-Type',
    request: { payload: Buffer.from('{}'), headers: { 'content-type': 'multipart/form-data; boundary=x' } },
    status: 415,
    code: 'XENT_UNSUPPORTED_MEDIA_TYPE',
    pointer: '',
  },
  {
    name: 'an unsupported Content-Encoding',
    request: withRaw(ok, ok.payload, { 'content-encoding': 'br' }),
    status: 415,
    code: 'XENT_UNSUPPORTED_MEDIA_TYPE',
    pointer: '',
  },
  {
    name: 'a body that is not gzip though Content-Encoding says so',
    request: withRaw(ok, ok.payload, { 'content-encoding': 'gzip' }),
    status: 400,
    code: 'XENT_BAD_REQUEST',
    pointer: '',
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
    expect(placeOf(result.error)).toBe(c.pointer);
    expect(result.error!.length).toBeGreaterThan(c.pointer.length + 10); // and says what is wrong there
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
    expect(placeOf(result.error)).toBe('/logits/0');
  });
});

describe('OIP errors - limits', () => {
  it('more numbers than MAX_ELEMENTS - 413 before anything is allocated', async () => {
    const result = await infer(small, binaryRequest({ inputs: [binLogits(24), binLabels(8)] }, [SIX, int32([0, 1])]));
    expect(result.status).toBe(413);
    expect(result.code).toBe('XENT_TOO_MANY_ELEMENTS');
    expect(placeOf(result.error)).toBe('/inputs/0/shape');
  });

  it('a shape of 10^15 numbers declared with a few bytes - 413, not an allocation', async () => {
    const result = await infer(app, binaryRequest({ inputs: [binLogits(8, 'FP64', [1e9, 1e6]), binLabels(8)] }, [fp64([1]), int32([0, 1])]));
    expect(result.status).toBe(413);
    expect(result.code).toBe('XENT_TOO_MANY_ELEMENTS');
    expect(placeOf(result.error)).toBe('/inputs/0/shape');
  });

  it('a body over BODY_LIMIT - 413', async () => {
    const result = await infer(small, binaryRequest({ inputs: [binLogits(8000, 'FP64', [1, 1000]), binLabels(4)] }, [Buffer.alloc(8000), int32([0])]));
    expect(result.status).toBe(413);
    expect(result.code).toBe('XENT_BODY_TOO_LARGE');
    expect(placeOf(result.error)).toBe('');
  });

  it('a gzip body that inflates beyond BODY_LIMIT - 413', async () => {
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    const result = await infer(small, { payload: bomb, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(result.status).toBe(413);
    expect(result.code).toBe('XENT_BODY_TOO_LARGE');
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

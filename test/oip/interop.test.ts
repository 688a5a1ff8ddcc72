import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helper.js';
import { INFER, binaryRequest, fp32, infer, int64, type InferResult } from './wire.js';

/**
 * What standard clients of the inference protocol need beyond the protocol itself (issue #13, items 1-3): answers
 * typed exactly `application/json`, the parameters Triton's and MLServer's clients send on their own, Triton's
 * classification extension, and Triton's model configuration extension saying which inputs are optional.
 */

const KEY = 'interop-test-key-0123456789';
let app: FastifyInstance;
let keyed: FastifyInstance;
let workerApp: FastifyInstance;

beforeAll(async () => {
  app = await buildTestApp({ bodyLimit: 4096 });
  keyed = await buildTestApp({ apiKeys: [KEY] });
  workerApp = await buildTestApp({ inlineMaxBytes: 0 });
});

afterAll(async () => {
  await app.close();
  await keyed.close();
  await workerApp.close();
});

const LOGITS = { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] };
const LABELS = { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] };
const VALID = { inputs: [LOGITS, LABELS] };
const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('inference-protocol answers - Content-Type is exactly application/json, as Triton and KServe send it', () => {
  // KServe's Python REST client shows an error's message only when the header is exactly this string
  // (kserve/inference_client.py, InferenceRESTClient._construct_http_status_error).
  const cases: [string, InjectOptions, number][] = [
    ['server metadata', { method: 'GET', url: '/v2' }, 200],
    ['server live', { method: 'GET', url: '/v2/health/live' }, 200],
    ['server ready', { method: 'GET', url: '/v2/health/ready' }, 200],
    ['model metadata', { method: 'GET', url: '/v2/models/cross_entropy' }, 200],
    ['versioned model metadata', { method: 'GET', url: '/v2/models/cross_entropy/versions/1' }, 200],
    ['model ready', { method: 'GET', url: '/v2/models/cross_entropy/ready' }, 200],
    ['model configuration', { method: 'GET', url: '/v2/models/cross_entropy/config' }, 200],
    ['inference, JSON outputs', { method: 'POST', url: INFER, ...json(VALID) }, 200],
    ['a bad request', { method: 'POST', url: INFER, ...json({ inputs: [LOGITS] }) }, 400],
    ['an unknown model', { method: 'GET', url: '/v2/models/resnet' }, 404],
    ['an unknown route under /v2', { method: 'GET', url: '/v2/nothing' }, 404],
    ['GET on the inference route', { method: 'GET', url: INFER }, 405],
    ['a body over BODY_LIMIT', { method: 'POST', url: INFER, payload: Buffer.alloc(8192, 0x20), headers: { 'content-type': 'application/json' } }, 413],
    ['an unsupported Content-Type', { method: 'POST', url: INFER, payload: '{}', headers: { 'content-type': 'text/plain' } }, 415],
  ];
  it.each(cases)('%s - exactly application/json', async (_name, request, status) => {
    const res = await app.inject(request);
    expect(res.statusCode, res.body).toBe(status);
    expect(res.headers['content-type']).toBe('application/json');
    expect(() => JSON.parse(res.body)).not.toThrow();
  });

  it('the worker path - the same header as the inline one', async () => {
    const res = await workerApp.inject({ method: 'POST', url: INFER, ...json(VALID) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
  });

  it('a 401 from the API-key guard under /v2 - exactly application/json', async () => {
    const res = await keyed.inject({ method: 'POST', url: INFER, ...json(VALID) });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json().code).toBe('XENT_UNAUTHORIZED');
  });

  it('the JSON API keeps its own types - /loss answers with a charset, problems as application/problem+json', async () => {
    const ok = await app.inject({ method: 'POST', url: '/loss', ...json({ logits: [[1, 2]], labels: [0] }) });
    expect(ok.headers['content-type']).toBe('application/json; charset=utf-8');
    const bad = await app.inject({ method: 'POST', url: '/loss', ...json({ logits: [[1, 2]] }) });
    expect(bad.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });
});

describe("inference parameters that standard clients send on their own - accepted and ignored", () => {
  it("Triton's client with a sequence id (sequence_id, sequence_start, sequence_end) - 200, the same answer", async () => {
    const plain = await infer(app, VALID);
    const sequenced = await infer(app, { ...VALID, parameters: { sequence_id: 42, sequence_start: true, sequence_end: false } });
    expect(sequenced.status, sequenced.error).toBe(200);
    expect(sequenced.json).toEqual(plain.json);
    const named = await infer(app, { ...VALID, parameters: { sequence_id: 'session-7', sequence_start: false, sequence_end: true } });
    expect(named.status, named.error).toBe(200);
  });

  it("MLServer's forwarded headers, Triton's priority and timeout - 200", async () => {
    const result = await infer(app, { ...VALID, parameters: { headers: { 'x-request-id': 'abc' }, priority: 1, timeout: 5000 } });
    expect(result.status, result.error).toBe(200);
  });

  it('an unknown custom parameter - still a 400 naming it and the parameters there are', async () => {
    const result = await infer(app, { ...VALID, parameters: { label_smooting: 0.1 } });
    expect(result.status).toBe(400);
    expect(result.code).toBe('XENT_UNKNOWN_FIELD');
    expect(result.error).toMatch(/^\/parameters\/label_smooting: /);
    expect(result.error).toContain('label_smoothing');
  });
});

/** The strings of a BYTES output, from JSON data or from Triton's binary form (each a uint32 length, then the bytes). */
function strings(result: InferResult, raw: Buffer | null, name: string): string[] {
  const outputs = result.json.outputs as { name: string; data?: string[]; parameters?: { binary_data_size?: number } }[];
  const at = outputs.findIndex((o) => o.name === name);
  const header = outputs[at]!;
  if (header.data !== undefined) return header.data;
  const out: string[] = [];
  // Binary outputs follow the JSON header in the order of the outputs.
  let offset = Number(result.headers['inference-header-content-length']);
  for (const o of outputs.slice(0, at)) offset += o.parameters?.binary_data_size ?? 0;
  const end = offset + header.parameters!.binary_data_size!;
  while (offset < end) {
    const length = raw!.readUInt32LE(offset);
    out.push(raw!.subarray(offset + 4, offset + 4 + length).toString('utf8'));
    offset += 4 + length;
  }
  return out;
}

describe("Triton's classification extension - the top-k classes of each sample", () => {
  it('classification: 2 on the logits output - BYTES [N, 2], "value:index" by descending logit', async () => {
    const result = await infer(app, { ...VALID, outputs: [{ name: 'cost' }, { name: 'logits', parameters: { classification: 2 } }] });
    expect(result.status, result.error).toBe(200);
    const [cost, classes] = result.json.outputs as Record<string, unknown>[];
    expect(cost!.name).toBe('cost');
    expect(classes).toEqual({ name: 'logits', datatype: 'BYTES', shape: [2, 2], data: ['2:0', '1:1', '2.5:1', '0.5:0'] });
  });

  it('probabilities, 3-D, k above C - every class of each sample, clamped to C as Triton does; ties by lower index', async () => {
    const probabilities = { name: 'probabilities', shape: [1, 2, 3], datatype: 'FP64', data: [0.25, 0.5, 0.25, 0.1, 0.1, 0.8] };
    const labels = { name: 'labels', shape: [1, 2], datatype: 'INT64', data: [1, 2] };
    const result = await infer(app, { inputs: [probabilities, labels], outputs: [{ name: 'probabilities', parameters: { classification: 5 } }] });
    expect(result.status, result.error).toBe(200);
    expect(result.json.outputs).toEqual([
      { name: 'probabilities', datatype: 'BYTES', shape: [1, 2, 3], data: ['0.5:1', '0.25:0', '0.25:2', '0.8:2', '0.1:0', '0.1:1'] },
    ]);
  });

  it("binary_data - Triton's serialised BYTES (uint32 length, then the string), read as its client reads them", async () => {
    const header = {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } },
        { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
      ],
      outputs: [
        { name: 'logits', parameters: { binary_data: true, classification: 1 } },
        { name: 'cost', parameters: { binary_data: true } },
      ],
    };
    const request = binaryRequest(header, [fp32([2, 1, 0.125, 0.5, 2.5, -0.375]), int64([0, 1])], null);
    for (const target of [app, workerApp]) {
      const res = await target.inject({ method: 'POST', url: INFER, payload: request.payload, headers: request.headers });
      expect(res.statusCode, res.body).toBe(200);
      const raw = res.rawPayload;
      const length = Number(res.headers['inference-header-content-length']);
      const result = { json: JSON.parse(raw.subarray(0, length).toString()), headers: res.headers } as unknown as InferResult;
      expect((result.json.outputs as { shape: number[] }[])[0]!.shape).toEqual([2, 1]);
      expect(strings(result, raw, 'logits')).toEqual(['2:0', '2.5:1']);
    }
  });

  it('inline and worker paths - byte-identical answers', async () => {
    const body = { ...VALID, outputs: [{ name: 'logits', parameters: { classification: 3 } }] };
    const inline = await app.inject({ method: 'POST', url: INFER, ...json(body) });
    const worker = await workerApp.inject({ method: 'POST', url: INFER, ...json(body) });
    expect(worker.body).toBe(inline.body);
  });

  it.each([
    ['classification on an output that is not per class', [{ name: 'losses', parameters: { classification: 2 } }], '/outputs/0/parameters/classification', 'XENT_INVALID_OPTION'],
    ['the other input kind', [{ name: 'probabilities', parameters: { classification: 2 } }], '/outputs/0/name', 'XENT_INVALID_OPTION'],
    ['the input echoed without classification', [{ name: 'logits' }], '/outputs/0/name', 'XENT_INVALID_OPTION'],
    ['a count that is not a non-negative integer', [{ name: 'logits', parameters: { classification: 1.5 } }], '/outputs/0/parameters/classification', 'XENT_INVALID_OPTION'],
  ])('%s - 400 saying what to ask instead', async (_name, outputs, pointer, code) => {
    const result = await infer(app, { ...VALID, outputs });
    expect(result.status).toBe(400);
    expect(result.code).toBe(code);
    expect(result.error!.startsWith(`${pointer}: `)).toBe(true);
  });

  it("the README's tritonclient.http request, as its source frames it (FP16 in, binary outputs, class_count, custom parameters) - 200", async () => {
    // tritonclient/http/_utils.py _get_inference_request: inputs with binary_data_size, outputs {"binary_data": true}
    // plus {"classification": k} for class_count, the custom parameters merged into "parameters"; no Content-Type.
    const header = {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP16', parameters: { binary_data_size: 12 } },
        { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
      ],
      outputs: [
        { name: 'cost', parameters: { binary_data: true } },
        { name: 'perplexity', parameters: { binary_data: true } },
        { name: 'losses', parameters: { binary_data: true } },
        { name: 'logits', parameters: { classification: 3, binary_data: true } },
      ],
      parameters: { label_smoothing: 0.1 },
    };
    // binary16: 2, 1, 0.5 | 0.5, 2.5, 0.25
    const halves = Buffer.alloc(12);
    [0x4000, 0x3c00, 0x3800, 0x3800, 0x4100, 0x3400].forEach((h, i) => halves.writeUInt16LE(h, 2 * i));
    const request = binaryRequest(header, [halves, int64([0, 1])], null);
    const res = await app.inject({ method: 'POST', url: INFER, payload: request.payload, headers: request.headers });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const raw = res.rawPayload;
    const length = Number(res.headers['inference-header-content-length']);
    const result = { json: JSON.parse(raw.subarray(0, length).toString()), headers: res.headers } as unknown as InferResult;
    expect((result.json.outputs as { name: string; datatype: string; shape: number[] }[]).map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['cost', 'FP64', [1]],
      ['perplexity', 'FP64', [1]],
      ['losses', 'FP64', [2]],
      ['logits', 'BYTES', [2, 3]],
    ]);
    expect(strings(result, raw, 'logits')).toEqual(['2:0', '1:1', '0.5:2', '2.5:1', '0.5:0', '0.25:2']);
  });

  it('the server metadata lists the classification and model_configuration extensions', async () => {
    const res = await app.inject({ method: 'GET', url: '/v2' });
    expect(res.json().extensions).toEqual(expect.arrayContaining(['binary_tensor_data', 'classification', 'model_configuration']));
  });
});

describe("Triton's model configuration extension - which inputs are optional", () => {
  it.each(['/v2/models/cross_entropy/config', '/v2/models/cross_entropy/versions/1/config'])(
    'GET %s - every input optional (the alternatives, and the inputs a request may leave out), Triton type names',
    async (url) => {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      const config = res.json();
      expect(config).toMatchObject({ name: 'cross_entropy', platform: 'xent', max_batch_size: 0 });
      expect(config.input).toEqual([
        { name: 'logits', data_type: 'TYPE_FP64', dims: [-1, -1], optional: true },
        { name: 'probabilities', data_type: 'TYPE_FP64', dims: [-1, -1], optional: true },
        { name: 'labels', data_type: 'TYPE_INT64', dims: [-1], optional: true },
        { name: 'targets', data_type: 'TYPE_FP64', dims: [-1, -1], optional: true },
        { name: 'class_weights', data_type: 'TYPE_FP64', dims: [-1], optional: true },
        { name: 'sample_weights', data_type: 'TYPE_FP64', dims: [-1], optional: true },
        { name: 'target_log_probs', data_type: 'TYPE_FP64', dims: [-1], optional: true },
        { name: 'mask', data_type: 'TYPE_BOOL', dims: [-1], optional: true },
        { name: 'bytes', data_type: 'TYPE_INT64', dims: [-1], optional: true },
        { name: 'words', data_type: 'TYPE_INT64', dims: [-1], optional: true },
      ]);
      expect(config.output.map((o: { name: string }) => o.name).slice(0, 7)).toEqual(['losses', 'sum', 'cost', 'count', 'total_weight', 'perplexity', 'accuracy']);
      expect(config.output[3]).toEqual({ name: 'count', data_type: 'TYPE_INT64', dims: [1] });
      // ModelParameter values are {string_value}: the pairs spelled out for tools that read the configuration only.
      expect(config.parameters.input_alternatives).toEqual({ string_value: 'logits|probabilities|target_log_probs,labels|targets' });
      expect(config.parameters.optional_inputs).toEqual({ string_value: 'class_weights,sample_weights,mask,bytes,words' });
    },
  );

  it('GET /v2/models/resnet/config - 404 like every other unknown model', async () => {
    const res = await app.inject({ method: 'GET', url: '/v2/models/resnet/config' });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('XENT_NOT_FOUND');
  });

  it('the model metadata says which inputs pair up, in its parameters', async () => {
    const metadata = (await app.inject({ method: 'GET', url: '/v2/models/cross_entropy' })).json();
    expect(metadata.parameters).toMatchObject({
      input_alternatives: 'logits|probabilities|target_log_probs,labels|targets',
      optional_inputs: 'class_weights,sample_weights,mask,bytes,words',
    });
    expect(typeof metadata.parameters.description).toBe('string');
    // Open Inference Protocol parameter values are strings, numbers or booleans only.
    for (const value of Object.values(metadata.parameters)) expect(['string', 'number', 'boolean']).toContain(typeof value);
  });
});

import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';
import { INFER, binaryRequest, bits16, bits32, fp32, fp64, flat, infer, int32, int64, type InferResult, type WireRequest } from './wire.js';

let app: FastifyInstance;
let workerApp: FastifyInstance;

beforeAll(async () => {
  app = await buildTestApp();
  workerApp = await buildTestApp({ inlineMaxBytes: 0 });
});

afterAll(async () => {
  await app.close();
  await workerApp.close();
});

/** Float64 values as their bit patterns, so that comparisons are bit for bit (and tell -0 from 0). */
const bits = (xs: readonly number[]) => xs.map((x) => fp64([x]).toString('hex'));

async function jsonApi(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await post(app, '/loss', body);
  expect(res.status, res.raw).toBe(200);
  return res.body;
}

/** Every output of an OIP response equals the JSON API's figure, bit for bit; null figures are empty tensors. */
function expectSameFigures(result: InferResult, loss: Record<string, unknown>): void {
  expect(result.status, JSON.stringify(result.json)).toBe(200);
  const values = (name: string) => result.outputs.get(name)!.values;
  expect(bits(values('losses'))).toEqual(bits(flat(loss.losses)));
  for (const name of ['sum', 'cost', 'total_weight', 'perplexity', 'accuracy', 'count']) {
    const want = loss[name];
    expect(bits(values(name)), name).toEqual(want === null ? [] : bits([want as number]));
    expect(result.outputs.get(name)!.shape, name).toEqual(want === null ? [0] : [1]);
  }
  expect(result.outputs.get('count')!.datatype).toBe('INT64');
  expect((result.json.parameters as { unit: string }).unit).toBe(loss.unit);
}

describe('OIP endpoints - metadata and health', () => {
  it('GET /v2 - server metadata lists the binary_tensor_data, classification and model_configuration extensions', async () => {
    const res = await app.inject({ method: 'GET', url: '/v2' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'xent', extensions: ['binary_tensor_data', 'classification', 'model_configuration'] });
    expect(typeof res.json().version).toBe('string');
    expect((await app.inject({ method: 'GET', url: '/v2/' })).json()).toEqual(res.json());
  });

  it('GET /v2/health/live and /v2/health/ready - 200 once the pool is up', async () => {
    expect((await app.inject({ method: 'GET', url: '/v2/health/live' })).json()).toEqual({ live: true });
    const ready = await app.inject({ method: 'GET', url: '/v2/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ ready: true });
  });

  it.each(['/v2/models/cross_entropy', '/v2/models/cross_entropy/versions/1'])('GET %s - model metadata with -1 for variable dimensions', async (url) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    const m = res.json();
    expect(m).toMatchObject({ name: 'cross_entropy', versions: ['1'], platform: 'xent' });
    expect(m.inputs.map((t: { name: string }) => t.name)).toEqual([
      'logits', 'probabilities', 'labels', 'targets', 'class_weights', 'sample_weights', 'target_log_probs', 'mask', 'bytes', 'words',
    ]);
    expect(m.inputs[0]).toEqual({ name: 'logits', datatype: 'FP64', shape: [-1, -1] });
    expect(m.inputs[2]).toEqual({ name: 'labels', datatype: 'INT64', shape: [-1] });
    expect(m.outputs.map((t: { name: string }) => t.name).slice(0, 7)).toEqual(['losses', 'sum', 'cost', 'count', 'total_weight', 'perplexity', 'accuracy']);
    expect(m.outputs.map((t: { name: string }) => t.name)).toContain('sequence_perplexity');
  });

  it.each(['/v2/models/cross_entropy/ready', '/v2/models/cross_entropy/versions/1/ready'])('GET %s - ready', async (url) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: 'cross_entropy', ready: true });
  });

  it.each([
    ['GET', '/v2/models/resnet', 'unknown model "resnet"'],
    ['GET', '/v2/models/resnet/ready', 'unknown model "resnet"'],
    ['POST', '/v2/models/resnet/infer', 'unknown model "resnet"'],
    ['GET', '/v2/models/cross_entropy/versions/2', 'has no version "2"'],
    ['POST', '/v2/models/cross_entropy/versions/2/infer', 'has no version "2"'],
    ['GET', '/v2/nothing/here', 'no route GET /v2/nothing/here'],
  ] as const)('%s %s - 404 with an OIP error body', async (method, url, message) => {
    const res = await app.inject({ method, url, ...(method === 'POST' ? { payload: '{}', headers: { 'content-type': 'application/json' } } : {}) });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json().error).toContain(message);
    expect(res.json().code).toBe('XENT_NOT_FOUND');
  });
});

const LOGITS = [
  [2, 1, 0.1],
  [0.5, 2.5, 0.3],
];

describe('OIP inference - JSON tensors', () => {
  it('nested data - equals POST /loss bit for bit, and echoes id', async () => {
    const result = await infer(app, {
      id: 'req-7',
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: LOGITS },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
      ],
    });
    expectSameFigures(result, await jsonApi({ logits: LOGITS, labels: [0, 1] }));
    expect(result.json).toMatchObject({ model_name: 'cross_entropy', model_version: '1', id: 'req-7' });
    expect(result.headers['content-type']).toMatch(/^application\/json/);
    expect(result.headers['inference-header-content-length']).toBeUndefined();
  });

  it('flat data - same as nested', async () => {
    const result = await infer(app, {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: LOGITS.flat() },
        { name: 'labels', shape: [2], datatype: 'INT32', data: [0, 1] },
      ],
    });
    expectSameFigures(result, await jsonApi({ logits: LOGITS, labels: [0, 1] }));
    expect(result.json.id).toBeUndefined();
  });

  it('3-D input with class weights, ignore_index, label smoothing and bits - equals POST /loss', async () => {
    const logits = [
      [
        [1, 2, 3],
        [3, 2, 1],
      ],
      [
        [0, 0, 0],
        [5, -5, 0],
      ],
    ];
    const result = await infer(app, {
      parameters: { label_smoothing: 0.1, ignore_index: 7, unit: 'bits' },
      inputs: [
        { name: 'logits', shape: [2, 2, 3], datatype: 'FP64', data: logits },
        { name: 'labels', shape: [2, 2], datatype: 'INT64', data: [[2, 7], [1, 0]] },
        { name: 'class_weights', shape: [3], datatype: 'FP64', data: [1, 2, 0.5] },
      ],
    });
    expectSameFigures(
      result,
      await jsonApi({ logits, labels: [[2, 7], [1, 0]], class_weights: [1, 2, 0.5], label_smoothing: 0.1, ignore_index: 7, unit: 'bits' }),
    );
    expect(result.outputs.get('losses')!.shape).toEqual([2, 2]);
  });

  it('probabilities with soft targets and epsilon - equals POST /loss', async () => {
    const probabilities = [
      [0.7, 0.2, 0.1],
      [0, 1, 0],
    ];
    const targets = [
      [1, 0, 0],
      [0.2, 0, 0.8],
    ];
    const result = await infer(app, {
      parameters: { epsilon: 1e-7 },
      inputs: [
        { name: 'probabilities', shape: [2, 3], datatype: 'FP64', data: probabilities },
        { name: 'targets', shape: [2, 3], datatype: 'FP64', data: targets },
      ],
    });
    expectSameFigures(result, await jsonApi({ probabilities, targets, epsilon: 1e-7 }));
  });

  it('FP32, FP16 and BF16 JSON data - values rounded to the datatype, then equal to POST /loss on the rounded values', async () => {
    const cases = [
      ['FP32', [0.1, 0.2, 0.3].map(Math.fround)],
      ['FP16', [0.0999755859375, 0.199951171875, 0.300048828125]], // 0x2e66, 0x3266, 0x34cd
      ['BF16', [0.10009765625, 0.2001953125, 0.30078125]], // 0x3dcd, 0x3e4d, 0x3e9a
    ] as const;
    for (const [datatype, rounded] of cases) {
      const result = await infer(app, {
        inputs: [
          { name: 'logits', shape: [1, 3], datatype, data: [[0.1, 0.2, 0.3]] },
          { name: 'labels', shape: [1], datatype: 'INT32', data: [2] },
        ],
      });
      expectSameFigures(result, await jsonApi({ logits: [rounded], labels: [2] }));
    }
  });

  it('outputs - only the requested ones, in the requested order; FP32 losses on request', async () => {
    const result = await infer(app, {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: LOGITS },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
      ],
      outputs: [{ name: 'count' }, { name: 'losses', parameters: { datatype: 'FP32' } }, { name: 'cost' }],
    });
    expect(result.status).toBe(200);
    expect([...result.outputs.keys()]).toEqual(['count', 'losses', 'cost']);
    const loss = await jsonApi({ logits: LOGITS, labels: [0, 1] });
    const losses = result.outputs.get('losses')!;
    expect(losses.datatype).toBe('FP32');
    expect(bits(losses.values)).toEqual(bits(flat(loss.losses).map(Math.fround)));
    expect(result.outputs.get('count')!.values).toEqual([2]);
  });

  it('every label ignored - cost, perplexity and accuracy are empty tensors, never NaN', async () => {
    const result = await infer(app, {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: LOGITS },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [-100, -100] },
      ],
    });
    expectSameFigures(result, await jsonApi({ logits: LOGITS, labels: [-100, -100] }));
    expect(result.outputs.get('cost')).toMatchObject({ shape: [0], values: [] });
  });

  it('null optional fields, as some clients write them - treated as absent', async () => {
    const result = await infer(app, {
      id: null,
      parameters: { unit: null, content_type: 'np' },
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: LOGITS, parameters: null },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1], parameters: { content_type: null } },
      ],
      outputs: null,
    });
    expectSameFigures(result, await jsonApi({ logits: LOGITS, labels: [0, 1] }));
  });
});

/** [[2, 1, 0.125], [0.5, 2.5, -0.375]]: every value exact in FP16, BF16 and FP32. */
const EXACT = [2, 1, 0.125, 0.5, 2.5, -0.375];
const EXACT_FP16 = [0x4000, 0x3c00, 0x3000, 0x3800, 0x4100, 0xb600];
const EXACT_BF16 = [0x4000, 0x3f80, 0x3e00, 0x3f00, 0x4020, 0xbec0];

const logitsHeader = (datatype: string, bytes: number, shape = [2, 3]) => ({
  name: 'logits',
  shape,
  datatype,
  parameters: { binary_data_size: bytes },
});

describe('OIP inference - binary tensor data', () => {
  it.each([
    ['FP64', fp64(EXACT)],
    ['FP32', fp32(EXACT)],
    ['FP16', bits16(EXACT_FP16)],
    ['BF16', bits16(EXACT_BF16)],
  ] as const)('%s logits with INT64 labels, binary outputs - equal POST /loss on the same values bit for bit', async (datatype, bytes) => {
    const request = binaryRequest(
      {
        inputs: [logitsHeader(datatype, bytes.length), { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } }],
        parameters: { binary_data_output: true },
      },
      [bytes, int64([0, 2])],
    );
    const result = await infer(app, request);
    expectSameFigures(result, await jsonApi({ logits: [EXACT.slice(0, 3), EXACT.slice(3)], labels: [0, 2] }));
    expect([...result.outputs.values()].every((o) => o.binary)).toBe(true);
    expect(result.headers['content-type']).toBe('application/octet-stream');
  });

  it('FP16 values that are not round decimals - decoded exactly from their bit patterns', async () => {
    // 0x2e66 = 1638·2^-14, 0x34cd = 1229·2^-12, 0x0001 = 2^-24 (subnormal), 0x8000 = -0, 0x7bff = 65504, 0xd3d0 = -62.5
    const request = binaryRequest(
      { inputs: [logitsHeader('FP16', 12), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] },
      [bits16([0x2e66, 0x34cd, 0x0001, 0x8000, 0x7bff, 0xd3d0]), int32([1, 0])],
    );
    const want = await jsonApi({ logits: [[0.0999755859375, 0.300048828125, 2 ** -24], [-0, 65504, -62.5]], labels: [1, 0] });
    expectSameFigures(await infer(app, request), want);
  });

  it('BF16 values that are not round decimals - decoded exactly from their bit patterns', async () => {
    // 0x3dcd = 205·2^-11, 0x3e9a = 0.30078125, 0x0001 = 2^-133 (subnormal), 0x7f7f = 255·2^120, 0xc2fa = -125, 0x3f81 = 1.0078125
    const request = binaryRequest(
      { inputs: [logitsHeader('BF16', 12), { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } }] },
      [bits16([0x3dcd, 0x3e9a, 0x0001, 0x7f7f, 0xc2fa, 0x3f81]), int64([2, 1])],
    );
    const want = await jsonApi({ logits: [[0.10009765625, 0.30078125, 2 ** -133], [255 * 2 ** 120, -125, 1.0078125]], labels: [2, 1] });
    expectSameFigures(await infer(app, request), want);
  });

  it('FP32 values not representable in decimal - equal POST /loss on Math.fround of them', async () => {
    const values = [0.1, 0.2, 0.7, 1e-3, 3.3, -2.2];
    const request = binaryRequest(
      { inputs: [logitsHeader('FP32', 24), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] },
      [fp32(values), int32([2, 0])],
    );
    const f = values.map(Math.fround);
    expectSameFigures(await infer(app, request), await jsonApi({ logits: [f.slice(0, 3), f.slice(3)], labels: [2, 0] }));
  });

  it('probabilities FP16, targets BF16, class weights FP32, all binary - equal POST /loss', async () => {
    // probabilities [[0.5, 0.25, 0.25], [0.125, 0.75, 0.125]], targets [[1, 0, 0], [0, 0.5, 0.5]], weights [1, 2, 0.5]
    const request = binaryRequest(
      {
        inputs: [
          { name: 'probabilities', shape: [2, 3], datatype: 'FP16', parameters: { binary_data_size: 12 } },
          { name: 'targets', shape: [2, 3], datatype: 'BF16', parameters: { binary_data_size: 12 } },
          { name: 'class_weights', shape: [3], datatype: 'FP32', parameters: { binary_data_size: 12 } },
        ],
        parameters: { label_smoothing: 0.25 },
      },
      [bits16([0x3800, 0x3400, 0x3400, 0x3000, 0x3a00, 0x3000]), bits16([0x3f80, 0, 0, 0, 0x3f00, 0x3f00]), fp32([1, 2, 0.5])],
    );
    const want = await jsonApi({
      probabilities: [[0.5, 0.25, 0.25], [0.125, 0.75, 0.125]],
      targets: [[1, 0, 0], [0, 0.5, 0.5]],
      class_weights: [1, 2, 0.5],
      label_smoothing: 0.25,
    });
    expectSameFigures(await infer(app, request), want);
  });

  it('mixed JSON and binary inputs - binary data taken in input order, skipping the JSON ones', async () => {
    const request = binaryRequest(
      {
        inputs: [
          { name: 'class_weights', shape: [3], datatype: 'FP64', parameters: { binary_data_size: 24 } },
          { name: 'labels', shape: [2], datatype: 'INT64', data: [1, 2] },
          logitsHeader('FP32', 24),
        ],
        outputs: [{ name: 'losses', parameters: { binary_data: true } }, { name: 'sum' }, { name: 'count', parameters: { binary_data: true } }],
      },
      [fp64([0.5, 3, 1.25]), fp32(EXACT)],
    );
    const result = await infer(app, request);
    const want = await jsonApi({ logits: [EXACT.slice(0, 3), EXACT.slice(3)], labels: [1, 2], class_weights: [0.5, 3, 1.25] });
    expect(result.status).toBe(200);
    expect(bits(result.outputs.get('losses')!.values)).toEqual(bits(flat(want.losses)));
    expect(result.outputs.get('losses')!.binary).toBe(true);
    expect(result.outputs.get('sum')).toMatchObject({ binary: false, values: [want.sum] });
    expect(result.outputs.get('count')).toMatchObject({ binary: true, values: [2], datatype: 'INT64' });
    expect(Number(result.headers['inference-header-content-length'])).toBeGreaterThan(0);
  });

  it('binary_data false on one output - overrides binary_data_output', async () => {
    const request = binaryRequest(
      {
        inputs: [logitsHeader('FP64', 48), { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] }],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'cost', parameters: { binary_data: false } }, { name: 'losses', parameters: { datatype: 'FP32' } }],
      },
      [fp64(EXACT)],
    );
    const result = await infer(app, request);
    expect(result.outputs.get('cost')!.binary).toBe(false);
    expect(result.outputs.get('losses')).toMatchObject({ binary: true, datatype: 'FP32' });
    const want = await jsonApi({ logits: [EXACT.slice(0, 3), EXACT.slice(3)], labels: [0, 1] });
    expect(bits(result.outputs.get('losses')!.values)).toEqual(bits(flat(want.losses).map(Math.fround)));
  });

  it('3-D input with INT64 labels of -100 (two’s complement) - ignored as in POST /loss', async () => {
    const request = binaryRequest(
      { inputs: [logitsHeader('FP64', 96, [2, 2, 3]), { name: 'labels', shape: [2, 2], datatype: 'INT64', parameters: { binary_data_size: 32 } }] },
      [fp64([...EXACT, ...EXACT.map((x) => -x)]), int64([0, -100, 2, 1])],
    );
    const result = await infer(app, request);
    const want = await jsonApi({
      logits: [[EXACT.slice(0, 3), EXACT.slice(3)], [EXACT.slice(0, 3).map((x) => -x), EXACT.slice(3).map((x) => -x)]],
      labels: [[0, -100], [2, 1]],
    });
    expectSameFigures(result, want);
    expect(result.outputs.get('losses')!.shape).toEqual([2, 2]);
  });

  it.each([
    ['no Content-Type (Triton’s Python client)', null],
    ['application/json', 'application/json'],
    ['application/x-www-form-urlencoded (curl --data-binary)', 'application/x-www-form-urlencoded'],
  ])('Content-Type %s - binary request read all the same', async (_, contentType) => {
    const request = binaryRequest(
      { inputs: [logitsHeader('FP32', 24), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] },
      [fp32(EXACT), int32([0, 1])],
      contentType,
    );
    expectSameFigures(await infer(app, request), await jsonApi({ logits: [EXACT.slice(0, 3), EXACT.slice(3)], labels: [0, 1] }));
  });

  it('gzip Content-Encoding - the body is decompressed first', async () => {
    const request = binaryRequest(
      { inputs: [logitsHeader('FP32', 24), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] },
      [fp32(EXACT), int32([0, 1])],
    );
    const compressed: WireRequest = { payload: gzipSync(request.payload), headers: { ...request.headers, 'content-encoding': 'gzip' } };
    expectSameFigures(await infer(app, compressed), await jsonApi({ logits: [EXACT.slice(0, 3), EXACT.slice(3)], labels: [0, 1] }));
  });

  it('/versions/1/infer - same answer as the unversioned URL', async () => {
    const body = {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: LOGITS },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
      ],
    };
    const result = await infer(app, body, '/v2/models/cross_entropy/versions/1/infer');
    expectSameFigures(result, await jsonApi({ logits: LOGITS, labels: [0, 1] }));
  });
});

describe('OIP inference - what binary data can carry and JSON cannot', () => {
  const NEG_INF = 0xff800000;
  const POS_INF = 0x7f800000;
  const NAN = 0x7fc00000;
  const ONE = 0x3f800000;
  const TWO = 0x40000000;

  const masked = (logitBits: number[], labels: number[]) =>
    binaryRequest(
      { inputs: [logitsHeader('FP32', 24), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] },
      [bits32(logitBits), int32(labels)],
    );

  it('-Infinity logits - a masked class: legal, probability 0, same losses as without the class', async () => {
    const result = await infer(app, masked([TWO, NEG_INF, ONE, NEG_INF, ONE, TWO], [0, 2]));
    const without = await jsonApi({ logits: [[2, 1], [1, 2]], labels: [0, 1] });
    expect(result.status).toBe(200);
    expect(bits(result.outputs.get('losses')!.values)).toEqual(bits(flat(without.losses)));
    expect(bits(result.outputs.get('sum')!.values)).toEqual(bits([without.sum as number]));
  });

  it('a label on a masked class - 400 naming the sample', async () => {
    const result = await infer(app, masked([TWO, NEG_INF, ONE, NEG_INF, ONE, TWO], [0, 0]));
    expect(result.status).toBe(400);
    expect(result.code).toBe('XENT_LABEL_ON_MASKED_CLASS');
    expect(result.error).toMatch(/^\/labels\/1: /);
  });

  it('every class of a sample masked - 400 naming the sample', async () => {
    const result = await infer(app, masked([TWO, ONE, ONE, NEG_INF, NEG_INF, NEG_INF], [0, -100]));
    expect(result.status).toBe(400);
    expect(result.code).toBe('XENT_ROW_ALL_MASKED');
    expect(result.error).toMatch(/^\/logits\/1: /);
  });

  it.each([
    ['NaN', NAN],
    ['+Infinity', POS_INF],
  ])('%s logit - 400 naming the sample and class', async (_, pattern) => {
    const result = await infer(app, masked([TWO, ONE, ONE, pattern, ONE, TWO], [0, 1]));
    expect(result.status).toBe(400);
    expect(result.code).toBe('XENT_INVALID_NUMBER');
    expect(result.error).toMatch(/^\/logits\/1\/0: /);
  });

  it('FP16 NaN in targets and +Infinity in class weights - each named', async () => {
    const request = binaryRequest(
      {
        inputs: [
          { name: 'logits', shape: [1, 2], datatype: 'FP64', data: [[1, 2]] },
          { name: 'targets', shape: [1, 2], datatype: 'FP16', parameters: { binary_data_size: 4 } },
          { name: 'class_weights', shape: [2], datatype: 'BF16', parameters: { binary_data_size: 4 } },
        ],
      },
      [bits16([0x3c00, 0x7e00]), bits16([0x7f80, 0x3f80])],
    );
    const result = await infer(app, request);
    expect(result.status).toBe(400);
    expect(result.code).toBe('XENT_INVALID_NUMBER');
    // Every problem, each led by its place, in the order of the inputs.
    expect(result.error!.split('; ').map((part) => part.slice(0, part.indexOf(': ')))).toEqual(['/targets/0/1', '/class_weights/0']);
  });
});

describe('OIP inference - the worker path gives the same bytes as the inline path', () => {
  const requests: [string, WireRequest][] = [
    [
      'FP16 logits, binary outputs',
      binaryRequest(
        {
          inputs: [logitsHeader('FP16', 12), { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } }],
          parameters: { binary_data_output: true, label_smoothing: 0.05 },
        },
        [bits16([0x2e66, 0x34cd, 0x0001, 0x8000, 0x7bff, 0xd3d0]), int64([1, 0])],
      ),
    ],
    [
      'BF16 probabilities and targets, JSON outputs',
      binaryRequest(
        {
          inputs: [
            { name: 'probabilities', shape: [2, 3], datatype: 'BF16', parameters: { binary_data_size: 12 } },
            { name: 'targets', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } },
          ],
          parameters: { unit: 'bits', epsilon: 1e-9 },
        },
        [bits16([0x3f00, 0x3e80, 0x3e80, 0x3e00, 0x3f40, 0x3e00]), fp32([1, 0, 0, 0.25, 0.5, 0.25])],
      ),
    ],
    [
      'masked logits, FP32 losses',
      binaryRequest(
        {
          inputs: [logitsHeader('FP32', 24), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }],
          outputs: [{ name: 'losses', parameters: { datatype: 'FP32', binary_data: true } }, { name: 'perplexity' }],
        },
        [bits32([0x40000000, 0xff800000, 0x3f800000, 0xff800000, 0x3f800000, 0x40000000]), int32([0, 2])],
      ),
    ],
    [
      'a label on a masked class (an error)',
      binaryRequest(
        { inputs: [logitsHeader('FP32', 24), { name: 'labels', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } }] },
        [bits32([0x40000000, 0xff800000, 0x3f800000, 0x7fc00000, 0x3f800000, 0x40000000]), int32([1, 0])],
      ),
    ],
  ];

  it.each(requests)('%s - identical responses', async (_, request) => {
    const inline = await app.inject({ method: 'POST', url: INFER, payload: request.payload, headers: request.headers });
    const worker = await workerApp.inject({ method: 'POST', url: INFER, payload: request.payload, headers: request.headers });
    expect(worker.statusCode).toBe(inline.statusCode);
    expect(worker.headers['inference-header-content-length']).toBe(inline.headers['inference-header-content-length']);
    expect(worker.rawPayload.equals(inline.rawPayload)).toBe(true);
  });
});

/**
 * The options a new user reaches for first (issue "first use"): class_dim (PyTorch's layout), sample_weights and
 * renormalize, and the answers that teach (NaN tokens, other libraries' names, labels in the wrong form), on both
 * protocols. Expected values come from invariants (a transpose is the same request; sample weights of 1 are none;
 * rows scaled by a power of two renormalise to themselves) and from the 50-digit reference.
 */
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';
import { infer } from '../oip/wire.js';
import { mulberry32 } from '../random.mjs';
import { agrees, exact, referenceCrossEntropy, type ReferenceRequest } from '../reference/highPrecision.mjs';

let app: FastifyInstance;
let worker: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
  worker = await buildTestApp({ inlineMaxBytes: 0 });
});
afterAll(async () => {
  await app.close();
  await worker.close();
});

/** [N][C][T] logits from a seeded PRNG, and the same numbers as [N][T][C]. */
function pytorchLayout(n: number, c: number, t: number, seed: number) {
  const random = mulberry32(seed);
  const nct = Array.from({ length: n }, () => Array.from({ length: c }, () => Array.from({ length: t }, () => (random() - 0.5) * 20)));
  const ntc = nct.map((sample) => Array.from({ length: t }, (_, j) => sample.map((row) => row[j]!)));
  const labels = Array.from({ length: n }, () => Array.from({ length: t }, () => Math.floor(random() * c)));
  return { nct, ntc, labels, random };
}

describe('class_dim', () => {
  it('class_dim: 1 on [N][C][T] answers byte for byte what the default answers on the transpose [N][T][C], inline and in a worker', async () => {
    for (const [n, c, t] of [[2, 3, 4], [1, 5, 1], [3, 2, 7]] as const) {
      const { nct, ntc, labels, random } = pytorchLayout(n, c, t, 1000 * n + 10 * c + t);
      const weights = Array.from({ length: c }, () => random() * 2);
      const samples = labels.map((row) => row.map(() => random()));
      const base = { labels, class_weights: weights, sample_weights: samples, label_smoothing: 0.1 };
      const want = await post(app, '/loss', { logits: ntc, ...base });
      expect(want.status).toBe(200);
      for (const target of [app, worker]) {
        for (const classDim of [1, -2]) {
          const got = await post(target, '/loss', { logits: nct, class_dim: classDim, ...base });
          expect(got.raw).toBe(want.raw);
        }
      }
    }
  });

  it('soft targets move with the classes; class_dim 0 makes the first axis the classes', async () => {
    const { nct, ntc } = pytorchLayout(2, 3, 2, 7);
    const soft = (rows: number[][][]) => rows.map((a) => a.map((b) => b.map((x) => Math.abs(x))));
    const want = await post(app, '/cost', { logits: ntc, targets: soft(ntc) });
    const got = await post(app, '/cost', { logits: nct, targets: soft(nct), class_dim: 1 });
    expect(got.raw).toBe(want.raw);
    // [C][N]: the classes first; the same as [N][C] transposed.
    const cn = [[1, 2], [3, 0.5], [0, -1]];
    const nc = [[1, 3, 0], [2, 0.5, -1]];
    expect((await post(app, '/loss', { logits: cn, labels: [2, 0], class_dim: 0 })).raw).toBe((await post(app, '/loss', { logits: nc, labels: [2, 0] })).raw);
  });

  it('problems are reported at their place in the tensor as sent', async () => {
    const { nct, labels } = pytorchLayout(2, 3, 4, 3);
    labels[1]![2] = 7;
    const bad = await post(app, '/loss', { logits: nct, labels, class_dim: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'XENT_LABEL_OUT_OF_RANGE', pointer: '/labels/1/2' });
    const probabilities = [[[0.5, 0.2], [0.5, 0.9]]]; // [1][C=2][T=2]: the second sample's column sums to 1.1
    const sum = await post(app, '/loss', { probabilities, labels: [[0, 1]], class_dim: 1 });
    expect(sum.body).toMatchObject({ code: 'XENT_PROBABILITIES_NOT_NORMALIZED', pointer: '/probabilities/0/0/1' });
    const out = await post(app, '/loss', { probabilities: [[[0.5, 0.2], [0.5, 1.8]]], labels: [[0, 1]], class_dim: 1 });
    expect(out.body).toMatchObject({ code: 'XENT_PROBABILITY_OUT_OF_RANGE', pointer: '/probabilities/0/1/1' });
  });

  it('the inference protocol takes class_dim as a parameter: same bytes as the transpose', async () => {
    const { nct, ntc, labels } = pytorchLayout(2, 3, 4, 5);
    const request = (logits: number[][][], shape: number[], parameters = {}) => ({
      parameters,
      inputs: [
        { name: 'logits', shape, datatype: 'FP64', data: logits },
        { name: 'labels', shape: [2, 4], datatype: 'INT64', data: labels },
      ],
    });
    const want = await infer(app, request(ntc, [2, 4, 3]));
    const got = await infer(app, request(nct, [2, 3, 4], { class_dim: 1 }));
    expect(want.status).toBe(200);
    expect(got.json).toEqual(want.json);
    const wrong = await infer(app, request(nct, [2, 3, 4]));
    expect(wrong.code).toBe('XENT_INVALID_SHAPE');
    expect(wrong.error).toMatch(/^\/inputs\/1\/shape: .*class_dim: 1/);
  });
});

describe('sample_weights', () => {
  const refRequest = (r: { logits: number[][]; labels: number[]; sample_weights: number[]; class_weights?: number[] }): ReferenceRequest => ({
    kind: 'logits',
    input: r.logits,
    labels: r.labels,
    sampleWeights: r.sample_weights,
    ...(r.class_weights === undefined ? {} : { classWeights: r.class_weights }),
  });

  it('weights every loss and the total weight: scikit-learn\'s weighted mean, within 1e-13 of the 50-digit reference', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 5 }), fc.integer(), fc.boolean(), async (n, c, seed, withClassWeights) => {
        const random = mulberry32(seed);
        const body = {
          logits: Array.from({ length: n }, () => Array.from({ length: c }, () => (random() - 0.5) * 10)),
          labels: Array.from({ length: n }, () => Math.floor(random() * c)),
          sample_weights: Array.from({ length: n }, () => (random() < 0.2 ? 0 : random() * 3)),
          ...(withClassWeights ? { class_weights: Array.from({ length: c }, () => random() * 2) } : {}),
        };
        const res = await post(app, '/loss', body);
        expect(res.status).toBe(200);
        const ref = referenceCrossEntropy(refRequest(body));
        (res.body.losses as number[]).forEach((loss, i) => expect(agrees(loss, ref.losses[i]!, 1e-13)).toBe(true));
        expect(agrees(res.body.total_weight as number, ref.totalWeight, 1e-13)).toBe(true);
        if (ref.cost !== null && !ref.totalWeight.isZero()) expect(agrees(res.body.cost as number, ref.cost, 1e-13)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('weights of 1 are no weights, byte for byte; doubling every weight doubles sum and total weight and keeps the cost', async () => {
    const body = { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3], [0, 0, 1]], labels: [0, 1, 2], class_weights: [1, 2, 0.5] };
    const none = await post(app, '/loss', body);
    const ones = await post(app, '/loss', { ...body, sample_weights: [1, 1, 1] });
    expect(ones.raw).toBe(none.raw);
    const twos = await post(app, '/loss', { ...body, sample_weights: [2, 2, 2] });
    expect(twos.body.sum).toBe(2 * (none.body.sum as number));
    expect(twos.body.total_weight).toBe(2 * (none.body.total_weight as number));
    expect(twos.body.cost).toBe(none.body.cost);
    expect(twos.body.losses).toEqual((none.body.losses as number[]).map((x) => 2 * x));
  });

  it('a weight of 0 takes a sample out of the sum and the total weight, though it is still counted', async () => {
    const body = { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] };
    const first = await post(app, '/cost', { logits: [body.logits[0]], labels: [0] });
    const weighted = await post(app, '/cost', { ...body, sample_weights: [1, 0] });
    expect(weighted.body).toMatchObject({ sum: first.body.sum, cost: first.body.cost, total_weight: 1, count: 2 });
  });

  it('soft targets: total_weight is the sum of the sample weights', async () => {
    const res = await post(app, '/cost', { logits: [[1, 2], [3, 4]], targets: [[0.5, 0.5], [1, 0]], sample_weights: [0.25, 0.5] });
    expect(res.body.total_weight).toBe(0.75);
  });

  it('the inference protocol: a sample_weights input tensor, the same answer as JSON', async () => {
    const json = await post(app, '/cost', { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1], sample_weights: [0.5, 3] });
    const oip = await infer(app, {
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
        { name: 'sample_weights', shape: [2], datatype: 'FP64', data: [0.5, 3] },
      ],
    });
    expect(oip.outputs.get('cost')!.values).toEqual([json.body.cost]);
    expect(oip.outputs.get('total_weight')!.values).toEqual([3.5]);
  });
});

describe('renormalize', () => {
  it('rows scaled by a power of two renormalise to the same losses, bit for bit', async () => {
    const p = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]];
    const plain = await post(app, '/loss', { probabilities: p, labels: [0, 1], renormalize: true });
    const scaled = await post(app, '/loss', { probabilities: p.map((row) => row.map((x) => x / 4)), labels: [0, 1], renormalize: true });
    expect(plain.status).toBe(200);
    expect(scaled.raw).toBe(plain.raw);
  });

  it('float16-like rows that miss 1 by 5e-4: refused by default (the answer says by how much and what to do), scored with renormalize within 1e-13 of the reference', async () => {
    const p = [[0.6992, 0.2, 0.1003], [0.0996, 0.7998, 0.1]]; // sums 0.9995 and 0.9994
    const strict = await post(app, '/loss', { probabilities: p, labels: [0, 1] });
    expect(strict.body).toMatchObject({ code: 'XENT_PROBABILITIES_NOT_NORMALIZED', pointer: '/probabilities/0' });
    expect(strict.body.detail).toMatch(/renormalize/);
    const res = await post(app, '/loss', { probabilities: p, labels: [0, 1], renormalize: true, epsilon: 1e-7 });
    expect(res.status).toBe(200);
    const ref = referenceCrossEntropy({ kind: 'probabilities', input: p, labels: [0, 1], renormalize: true, epsilon: 1e-7 });
    (res.body.losses as number[]).forEach((loss, i) => expect(agrees(loss, ref.losses[i]!, 1e-13)).toBe(true));
  });

  it('a confident row keeps its tiny loss: -ln(p/S) near 1 in full precision', async () => {
    const p = [[1 - 1e-12, 1e-12 / 2, 1e-12 / 2]];
    const res = await post(app, '/loss', { probabilities: p.map((row) => row.map((x) => x * 0.999)), labels: [0], renormalize: true });
    const ref = referenceCrossEntropy({ kind: 'probabilities', input: p.map((row) => row.map((x) => x * 0.999)), labels: [0], renormalize: true });
    expect(agrees((res.body.losses as number[])[0]!, ref.losses[0]!, 1e-12)).toBe(true);
    expect(exact((res.body.losses as number[])[0]!).gt(0)).toBe(true);
  });

  it('a row of zeros cannot be renormalised; renormalize with logits is refused', async () => {
    const zeros = await post(app, '/loss', { probabilities: [[0, 0]], labels: [0], renormalize: true });
    expect(zeros.body).toMatchObject({ code: 'XENT_PROBABILITIES_NOT_NORMALIZED', pointer: '/probabilities/0' });
  });
});

describe('answers that teach', () => {
  it.each([
    ['NaN', '{"logits": [[0, NaN, 1]], "labels": [0]}', '/logits/0/1'],
    ['Infinity', '{"logits": [[0, 1]], "labels": [0], "class_weights": [1, Infinity]}', '/class_weights/1'],
    ['-Infinity', '{"logits": [[-Infinity, 1]], "labels": [1]}', '/logits/0/0'],
  ])('a %s token (Python writes them) - XENT_INVALID_JSON at the element, naming allow_nan', async (_, raw, pointer) => {
    const res = await app.inject({ method: 'POST', url: '/loss', payload: raw, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'XENT_INVALID_JSON', pointer });
    expect(res.json().detail).toMatch(/allow_nan=False/);
  });

  it('a NaN token in an inference request names its place too', async () => {
    const raw = '{"inputs": [{"name": "logits", "shape": [1, 2], "datatype": "FP64", "data": [0, NaN]}, {"name": "labels", "shape": [1], "datatype": "INT64", "data": [0]}]}';
    const res = await infer(app, { payload: Buffer.from(raw), headers: { 'content-type': 'application/json' } });
    expect(res.code).toBe('XENT_INVALID_JSON');
    expect(res.error).toMatch(/^\/inputs\/0\/data\/1: NaN/);
  });

  it.each([
    ['weight', /class_weights/],
    ['sample_weight', /sample_weights/],
    ['axis', /class_dim/],
    ['dim', /class_dim/],
    ['y_true', /labels/],
    ['y_pred', /logits/],
    ['from_logits', /logits/],
    ['reduction', /\/loss/],
  ])('the name %s from another library - XENT_UNKNOWN_FIELD saying what xent calls it', async (name, hint) => {
    const res = await post(app, '/cost', { logits: [[0, 1]], labels: [0], [name]: 1 });
    expect(res.body).toMatchObject({ code: 'XENT_UNKNOWN_FIELD', pointer: `/${name}` });
    expect(res.body.detail).toMatch(hint);
  });

  it('a JSON.stringify-ed typed array (an object with numeric keys) - told to send Array.from', async () => {
    const res = await post(app, '/cost', { logits: [{ 0: 1, 1: 2 }], labels: [0] });
    expect(res.body).toMatchObject({ code: 'XENT_INVALID_SHAPE' });
    expect(res.body.detail).toMatch(/Array\.from/);
  });
});

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';

let app: FastifyInstance;
let workerApp: FastifyInstance;
let rawApp: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
  workerApp = await buildTestApp({ inlineMaxBytes: 0 }); // decoded on the event loop, scored in a worker
  rawApp = await buildTestApp({ inlineMaxBytes: 0 }); // raw bytes parsed, decoded and scored in a worker
});
afterAll(async () => {
  await app.close();
  await workerApp.close();
  await rawApp.close();
});

// ln(e^2 + e + e^0.1) − 2 and ln(e^0.5 + e^2.5 + e^0.3) − 2.5, by hand with a calculator to 16 digits
const L0 = 0.41703001627783354;
const L1 = 0.22004952302053776;

describe('POST /loss', () => {
  it('2-D logits and labels - per-sample losses and every aggregate', async () => {
    const res = await post(app, '/loss', { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const b = res.body;
    expect(b.losses as number[]).toHaveLength(2);
    expect(Math.abs((b.losses as number[])[0]! - L0)).toBeLessThan(1e-15);
    expect(Math.abs((b.losses as number[])[1]! - L1)).toBeLessThan(1e-15);
    expect(Math.abs((b.sum as number) - (L0 + L1))).toBeLessThan(1e-15);
    expect(Math.abs((b.cost as number) - (L0 + L1) / 2)).toBeLessThan(1e-15);
    expect(Math.abs((b.perplexity as number) - Math.exp((L0 + L1) / 2))).toBeLessThan(1e-14);
    expect(b).toMatchObject({ count: 2, total_weight: 2, accuracy: 1, unit: 'nats' });
    expect(Object.keys(b).sort()).toEqual(['accuracy', 'cost', 'count', 'losses', 'perplexity', 'sum', 'total_weight', 'unit']);
  });

  it('3-D logits - losses nested in the labels shape, ignore_index default -100', async () => {
    const res = await post(app, '/loss', {
      logits: [[[0, 0], [1, 1]], [[0, 0], [5, 5]], [[3, 3], [0, 0]]],
      labels: [[0, -100], [1, 0], [-100, -100]],
    });
    expect(res.status).toBe(200);
    expect(res.body.losses).toEqual([[Math.LN2, 0], [Math.LN2, Math.LN2], [0, 0]]);
    expect(res.body.count).toBe(3);
    expect(res.body.cost).toBe(Math.LN2);
  });

  it('4-D logits - any number of leading dimensions', async () => {
    const res = await post(app, '/loss', { logits: [[[[0, 0]], [[0, 0]]]], labels: [[[1], [0]]] });
    expect(res.status).toBe(200);
    expect(res.body.losses).toEqual([[[Math.LN2], [Math.LN2]]]);
  });

  it('probabilities with soft targets in bits', async () => {
    const res = await post(app, '/loss', { probabilities: [[0.5, 0.25, 0.25]], targets: [[0, 0.5, 0.5]], unit: 'bits' });
    expect(res.status).toBe(200);
    expect(res.body.losses).toEqual([2]); // −(0.5·log2 0.25 + 0.5·log2 0.25)
    expect(res.body).toMatchObject({ sum: 2, cost: 2, unit: 'bits', total_weight: 1, perplexity: 4, accuracy: 0 });
  });

  it('class_weights, label_smoothing and a custom ignore_index', async () => {
    const res = await post(app, '/loss', {
      logits: [[0, 0], [0, 0], [0, 0]],
      labels: [0, 1, 7],
      class_weights: [3, 1],
      ignore_index: 7,
      label_smoothing: 0.5,
    });
    // every nl_c is ln 2: loss = (1−ε)·w_y·ln2 + ε/2·(3 + 1)·ln2
    const want = [(0.5 * 3 + 0.25 * 4) * Math.LN2, (0.5 * 1 + 0.25 * 4) * Math.LN2, 0];
    (res.body.losses as number[]).forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThanOrEqual(1e-15 * want[i]!));
    expect(res.body.total_weight).toBe(4);
    expect(res.body.count).toBe(2);
  });

  it('epsilon clips probabilities', async () => {
    const res = await post(app, '/loss', { probabilities: [[0, 1]], labels: [0], epsilon: 1e-7 });
    expect(res.body.losses).toEqual([-Math.log(1e-7)]);
  });

  it('every label ignored - cost, perplexity and accuracy are null', async () => {
    const res = await post(app, '/cost', { logits: [[0, 1]], labels: [-100] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sum: 0, cost: null, count: 0, total_weight: 0, perplexity: null, accuracy: null, unit: 'nats' });
  });
});

describe('POST /cost', () => {
  it('answers the aggregates without losses', async () => {
    const res = await post(app, '/cost', { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] });
    expect(res.status).toBe(200);
    expect(res.body.losses).toBeUndefined();
    expect(Math.abs((res.body.cost as number) - (L0 + L1) / 2)).toBeLessThan(1e-15);
  });
});

describe('inline, worker and raw-body worker paths', () => {
  const bodies = [
    { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] },
    { logits: [[[1e15, 1e15 + 0.125], [1, 2]], [[-1e300, 1e300], [3, 3]]], labels: [[0, 1], [0, 1]], label_smoothing: 0.3 },
    { probabilities: [[0.2, 0.8], [1, 0]], targets: [[0.5, 0.5], [1, 0]], class_weights: [2, 0.5], epsilon: 1e-9, unit: 'bits' },
    { probabilities: [[0.2, 0.8], [1, 0]], labels: [0, 1] }, // 422
    { logits: [[0, 1]], labels: [2] }, // 400
  ];
  for (const [i, body] of bodies.entries()) {
    it(`case ${i} - byte-identical responses and status`, async () => {
      for (const url of ['/loss', '/cost']) {
        const a = await post(app, url, body);
        for (const other of [workerApp, rawApp]) {
          const b = await post(other, url, body);
          expect(b.status).toBe(a.status);
          expect(b.headers['content-type']).toBe(a.headers['content-type']);
          expect(b.raw).toBe(a.raw);
        }
      }
    });
  }
});

describe('operational routes', () => {
  it('GET /healthz and /readyz answer once the pool is up', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('echoes x-request-id', async () => {
    const res = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers['x-request-id']).toBe('abc-123');
  });

  it('GET /docs serves Swagger UI and /docs/json the OpenAPI document', async () => {
    const ui = await app.inject('/docs');
    expect([200, 302]).toContain(ui.statusCode);
    const doc = (await app.inject('/docs/json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/loss', '/cost', '/healthz', '/readyz']));
  });
});

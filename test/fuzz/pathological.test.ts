/**
 * Pathological but valid requests through the app with its default configuration (only WORKERS = 2): one class,
 * 250 000 classes, a million samples, many dimensions, everything ignored, every weight 0. Each gets the right
 * answer, checked against values derived by hand; past MAX_ELEMENTS or BODY_LIMIT a clear 413; memory stays bounded.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { decodeScoreRequest } from '../../src/codec/json/decode.js';
import { ProblemError } from '../../src/codec/problems.js';
import { decodeInferenceRequest } from '../../src/codec/oip/decode.js';
import { buildTestApp } from '../helper.js';
import { disagreement, reference, violations } from './invariants.js';

const defaults = loadConfig({});
let app: FastifyInstance;
let workerApp: FastifyInstance;
let rssBefore: number;
beforeAll(async () => {
  rssBefore = process.memoryUsage().rss;
  app = await buildTestApp();
  workerApp = await buildTestApp({ inlineMaxBytes: 0 });
});
afterAll(async () => {
  await app.close();
  await workerApp.close();
});

interface Answer {
  status: number;
  raw: string;
  body: Record<string, unknown>;
}

async function send(target: FastifyInstance, url: string, text: string): Promise<Answer> {
  const res = await target.inject({ method: 'POST', url, payload: text, headers: { 'content-type': 'application/json' } });
  const answer = { statusCode: res.statusCode, headers: res.headers, body: res.body };
  // Every answer also meets the fuzz invariants and agrees with a direct decode + evaluate() of the same bytes.
  expect(violations(answer, text)).toEqual([]);
  expect(disagreement(answer, reference(text, url === '/loss', defaults.maxElements))).toEqual([]);
  return { status: res.statusCode, raw: res.body, body: res.json() as Record<string, unknown> };
}

/** `/loss` and `/cost` on the default app, and `/loss` on the app that scores every body in a worker, identical. */
async function score(body: unknown): Promise<Answer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const loss = await send(app, '/loss', text);
  const cost = await send(app, '/cost', text);
  const worker = await send(workerApp, '/loss', text);
  expect(worker.raw).toBe(loss.raw);
  expect(cost.status).toBe(loss.status);
  if (loss.status === 200) {
    const { losses: _losses, ...aggregates } = loss.body;
    expect(cost.body).toEqual(aggregates);
  }
  return loss;
}

const relative = (got: unknown, expected: number) => Math.abs((got as number) - expected) / Math.abs(expected);

async function scoringCount(target: FastifyInstance, path: string): Promise<number> {
  const text = (await target.inject('/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`xent_scoring_seconds_count{path="${path}",protocol="score"}`));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('one class (C = 1): every loss is exactly 0', () => {
  it('logits, with and without label smoothing and weights - losses 0, cost 0, perplexity 1, accuracy 1', async () => {
    for (const extra of [{}, { label_smoothing: 0.3 }, { class_weights: [2.5] }, { unit: 'bits' }]) {
      const res = await score({ logits: [[3.5], [-1e300], [0], [1e300]], labels: [0, 0, 0, 0], ...extra });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ losses: [0, 0, 0, 0], sum: 0, cost: 0, count: 4, perplexity: 1, accuracy: 1 });
    }
  });

  it('probabilities [1] and soft targets - losses 0', async () => {
    expect((await score({ probabilities: [[1], [1]], labels: [0, 0] })).body).toMatchObject({ losses: [0, 0], sum: 0, cost: 0 });
    expect((await score({ logits: [[7], [-7]], targets: [[1], [2]] })).body).toMatchObject({ losses: [0, 0], sum: 0, cost: 0, total_weight: 2 });
  });
});

describe('a GPT-scale vocabulary: C = 250 000, N = 1', () => {
  const C = 250_000;

  it('all logits 0 - loss ln(250 000), scored in a worker', async () => {
    const before = await scoringCount(app, 'worker');
    const res = await score(`{"logits":[[${new Array(C).fill('0').join(',')}]],"labels":[123456]}`);
    expect(res.status).toBe(200);
    expect(relative(res.body.cost, Math.log(C))).toBeLessThan(1e-13);
    expect(relative(res.body.perplexity, C)).toBeLessThan(1e-12);
    expect(res.body.accuracy).toBe(0); // the arg-max on a tie is the lowest index, 0
    expect(await scoringCount(app, 'worker')).toBe(before + 2); // /loss and /cost: the body is over INLINE_MAX_BYTES
  });

  it('the label logit 10 above the other 249 999 - loss log(1 + 249 999 e^-10)', async () => {
    const logits = new Array(C).fill('0');
    logits[C - 1] = '10';
    const res = await score(`{"logits":[[${logits.join(',')}]],"labels":[${C - 1}]}`);
    expect(res.status).toBe(200);
    expect(relative(res.body.cost, Math.log1p((C - 1) * Math.exp(-10)))).toBeLessThan(1e-13);
    expect(res.body.accuracy).toBe(1);
  });
});

describe('a million samples: N = 1 000 000, C = 2 (a 12 MB body)', () => {
  it('four row patterns of known loss - answered 200 by the worker path, every loss of a pattern identical', async () => {
    // [a, b] with label y: loss = log(e^a + e^b) - z_y, which for these rows (differences 0, 1, -1, 4) is:
    const rows = ['[0.5,0.5]', '[1.5,0.5]', '[0.5,1.5]', '[2.5,-1.5]'];
    const labels = [0, 0, 0, 1];
    const expected = [Math.LN2, Math.log1p(Math.exp(-1)), 1 + Math.log1p(Math.exp(-1)), 4 + Math.log1p(Math.exp(-4))];
    const N = 1_000_000;
    const text = `{"logits":[${Array.from({ length: N }, (_, i) => rows[i % 4]).join(',')}],"labels":[${Array.from({ length: N }, (_, i) => labels[i % 4]).join(',')}]}`;
    expect(text.length).toBeGreaterThan(10_000_000);

    const before = await scoringCount(app, 'worker');
    const res = await send(app, '/loss', text);
    expect(res.status).toBe(200);
    expect(await scoringCount(app, 'worker')).toBe(before + 1);
    const losses = res.body.losses as number[];
    expect(losses).toHaveLength(N);
    for (let k = 0; k < 4; k++) expect(relative(losses[k], expected[k]!)).toBeLessThan(1e-14);
    const mismatched = losses.findIndex((x, i) => x !== losses[i % 4]);
    expect(mismatched).toBe(-1);
    const mean = expected.reduce((a, b) => a + b, 0) / 4;
    expect(relative(res.body.cost, mean)).toBeLessThan(1e-13);
    expect(relative(res.body.sum, mean * N)).toBeLessThan(1e-13);
    expect(res.body).toMatchObject({ count: N, total_weight: N, accuracy: 0.5, unit: 'nats' });

    const cost = await send(app, '/cost', text);
    expect(cost.body).toEqual(Object.fromEntries(Object.entries(res.body).filter(([k]) => k !== 'losses')));
  }, 120_000);
});

describe('many dimensions', () => {
  it('4-D logits [2][3][4][5] with 3-D labels, some ignored - ln 5 per counted sample, losses nested [2][3][4]', async () => {
    // Every row is constant (its own value), so every class has probability 1/5 whatever the label.
    const logits = Array.from({ length: 2 }, (_, a) =>
      Array.from({ length: 3 }, (_, b) => Array.from({ length: 4 }, (_, c) => new Array(5).fill(a * 100 + b * 10 + c - 50.25))),
    );
    const labels = Array.from({ length: 2 }, (_, a) => Array.from({ length: 3 }, (_, b) => Array.from({ length: 4 }, (_, c) => ((a + b + c) % 3 === 0 ? -100 : (a + b * 2 + c) % 5))));
    const res = await score({ logits, labels });
    expect(res.status).toBe(200);
    const ignored = labels.flat(2).filter((y) => y === -100).length;
    expect(ignored).toBeGreaterThan(0);
    const losses = res.body.losses as number[][][];
    expect(losses).toHaveLength(2);
    for (let a = 0; a < 2; a++) {
      expect(losses[a]).toHaveLength(3);
      for (let b = 0; b < 3; b++) {
        expect(losses[a]![b]).toHaveLength(4);
        for (let c = 0; c < 4; c++) {
          if (labels[a]![b]![c] === -100) expect(losses[a]![b]![c]).toBe(0);
          else expect(relative(losses[a]![b]![c], Math.log(5))).toBeLessThan(1e-14);
        }
      }
    }
    expect(res.body.count).toBe(24 - ignored);
    expect(relative(res.body.cost, Math.log(5))).toBeLessThan(1e-14);
    expect(res.body.accuracy).toBe(labels.flat(2).filter((y) => y === 0).length / (24 - ignored)); // ties: arg-max is 0
  });

  it('6-D logits [1][2][1][2][1][3] with soft targets - ln 3 times the target mass per sample', async () => {
    const shape = [1, 2, 1, 2, 1];
    const rows = [[0.2, 0.3, 0.5], [1, 0, 0], [0, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3]];
    // Every row of logits is constant, so every class has probability 1/3 and nl_c = ln 3 for every c.
    const logits = nestRows(shape, () => [-3, -3, -3]);
    const targets = nestRows(shape, (i) => rows[i]!);
    const res = await score({ logits, targets });
    expect(res.status).toBe(200);
    const flat = (res.body.losses as unknown[]).flat(10) as number[];
    expect(flat).toHaveLength(4);
    flat.forEach((x, i) => expect(relative(x, Math.log(3) * rows[i]!.reduce((a, b) => a + b, 0))).toBeLessThan(1e-14));
  });
});

/** Nested arrays of the given leading shape whose i-th row (row-major) is row(i). */
function nestRows(shape: number[], row: (i: number) => number[]): unknown {
  let next = 0;
  const build = (depth: number): unknown =>
    depth === shape.length ? row(next++) : Array.from({ length: shape[depth]! }, () => build(depth + 1));
  return build(0);
}

describe('nothing to average', () => {
  it('every label ignored - losses 0, sum 0, count 0, cost, perplexity and accuracy null', async () => {
    for (const body of [
      { logits: [[1, 2], [3, 4], [5, -6]], labels: [-100, -100, -100] },
      { logits: [[1, 2], [3, 4]], labels: [7, 7], ignore_index: 7, label_smoothing: 0.5 },
      { logits: [[[1, 2]], [[3, 4]]], labels: [[-5], [-5]], ignore_index: -5, class_weights: [1, 2], unit: 'bits' },
    ]) {
      const res = await score(body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ sum: 0, cost: null, count: 0, total_weight: 0, perplexity: null, accuracy: null });
      expect((res.body.losses as unknown[]).flat()).toEqual(new Array((res.body.losses as unknown[]).flat().length).fill(0));
    }
  });

  it('every class weight 0 - losses 0, total_weight 0, cost and perplexity null, accuracy still counted', async () => {
    const res = await score({ logits: [[1, 2, 3], [3, 2, 1], [0, 5, 0]], labels: [2, 1, 1], class_weights: [0, 0, 0] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ losses: [0, 0, 0], sum: 0, cost: null, count: 3, total_weight: 0, perplexity: null });
    expect(res.body.accuracy).toBe(2 / 3); // arg-max 2, 0, 1 against labels 2, 1, 1
  });

  it('every class weight 0 with soft targets - losses 0, cost 0 over N samples', async () => {
    const res = await score({ logits: [[1, 2], [3, 4]], targets: [[0.5, 0.5], [1, 0]], class_weights: [0, 0] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ losses: [0, 0], sum: 0, cost: 0, total_weight: 2, perplexity: 1 });
  });
});

describe('beyond the limits: a clear 413', () => {
  it(`one more number than MAX_ELEMENTS (${defaults.maxElements}) - 413 XENT_TOO_MANY_ELEMENTS at /logits`, async () => {
    const text = `{"logits":[[${'0,'.repeat(defaults.maxElements)}0]],"labels":[0]}`;
    expect(text.length).toBeLessThan(defaults.bodyLimit);
    const res = await send(app, '/cost', text);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: 'XENT_TOO_MANY_ELEMENTS', pointer: '/logits' });
    expect(res.raw.length).toBeLessThan(1000);
  }, 120_000);

  it(`a body one byte over BODY_LIMIT (${defaults.bodyLimit} bytes) - 413 XENT_BODY_TOO_LARGE`, async () => {
    const payload = Buffer.alloc(defaults.bodyLimit + 1, 0x20);
    payload.write('{"logits":[[0,1]],"labels":[0]}');
    const res = await app.inject({ method: 'POST', url: '/loss', payload, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'XENT_BODY_TOO_LARGE', status: 413 });
  }, 60_000);

  it('a body exactly at a small BODY_LIMIT is read; one byte more is refused', async () => {
    const small = await buildTestApp({ bodyLimit: 4096 });
    try {
      const body = '{"logits":[[0,1]],"labels":[0]}';
      const at = body.padEnd(4096, ' ');
      expect((await small.inject({ method: 'POST', url: '/cost', payload: at, headers: { 'content-type': 'application/json' } })).statusCode).toBe(200);
      const over = await small.inject({ method: 'POST', url: '/cost', payload: `${at} `, headers: { 'content-type': 'application/json' } });
      expect(over.statusCode).toBe(413);
      expect(over.json().code).toBe('XENT_BODY_TOO_LARGE');
    } finally {
      await small.close();
    }
  });
});

/**
 * Nested arrays whose first element at each depth has `width` entries and whose other entries are 0: read from the
 * first elements, the shape is [width, ..., width] (width^depth numbers), while the body holds about width·depth.
 */
function promising(width: number, depth: number): unknown {
  let v: unknown = new Array(width).fill(0);
  for (let d = 1; d < depth; d++) v = [v, ...new Array(width - 1).fill(0)];
  return v;
}

function issuesOf(run: () => unknown): { code: string; pointer: string }[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ProblemError) return err.issues.map(({ code, pointer }) => ({ code, pointer }));
    throw err;
  }
  throw new Error('no ProblemError');
}

describe('a small body whose shape promises more numbers than it holds: 400, nothing allocated for the promise', () => {
  it(`[250][250][250] promised by a ${JSON.stringify(promising(250, 3)).length}-byte body, within MAX_ELEMENTS - 400 XENT_INVALID_SHAPE at the first missing row, on both paths`, async () => {
    expect(250 ** 3).toBeLessThanOrEqual(defaults.maxElements);
    const text = JSON.stringify({ logits: promising(250, 3), labels: [[0]] });
    for (const target of [app, workerApp]) {
      const res = await send(target, '/cost', text);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'XENT_INVALID_SHAPE', pointer: '/logits/0/1' });
    }
  });

  it('10^12 numbers promised with no element limit - the decoders report the shape instead of allocating 8 TB', () => {
    // Without a bound from the body's size, both decoders would ask for a Float64Array of 10^12 elements first.
    const body = { logits: promising(100, 6), labels: [[[[[0]]]]] };
    const text = JSON.stringify(body);
    expect(issuesOf(() => decodeScoreRequest(body, { maxElements: 2 ** 50, bodyBytes: text.length }))[0]).toEqual({
      code: 'XENT_INVALID_SHAPE',
      pointer: '/logits/0/0/0/0/1',
    });
    const header = {
      inputs: [
        { name: 'logits', shape: [1e6, 1e6], datatype: 'FP64', data: [[0]] },
        { name: 'labels', shape: [1e6], datatype: 'INT64', data: new Array(1e6).fill(0) },
      ],
    };
    expect(issuesOf(() => decodeInferenceRequest(Buffer.from(JSON.stringify(header)), undefined, { maxElements: 2 ** 50 }))[0]).toEqual({
      code: 'XENT_INVALID_SHAPE',
      pointer: '/logits',
    });
  });
});

describe('memory', () => {
  it('after all of the above, the process has grown by less than 1.5 GB and the app still answers', async () => {
    const growth = process.memoryUsage().rss - rssBefore;
    expect(growth).toBeLessThan(1.5 * 1024 ** 3);
    expect((await score({ logits: [[2, 1, 0.1]], labels: [0] })).status).toBe(200);
  });
});

import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';

const faultyWorker = fileURLToPath(new URL('./faultyWorker.mjs', import.meta.url));
const good = { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] };

const metric = async (app: FastifyInstance, name: string) => {
  const line = (await app.inject('/metrics')).body.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
};

/** POST /loss, or the same batch through the inference protocol: both reach the worker as raw bytes. */
type Send = (app: FastifyInstance, ignoreIndex?: number) => ReturnType<typeof post>;
const sendJson: Send = (app, ignoreIndex) => post(app, '/loss', ignoreIndex === undefined ? good : { ...good, ignore_index: ignoreIndex });
const sendInference: Send = (app, ignoreIndex) =>
  post(app, '/v2/models/cross_entropy/infer', {
    ...(ignoreIndex === undefined ? {} : { parameters: { ignore_index: ignoreIndex } }),
    inputs: [
      { name: 'logits', shape: [2, 3], datatype: 'FP64', data: good.logits.flat() },
      { name: 'labels', shape: [2], datatype: 'INT64', data: good.labels },
    ],
  });

describe.each([
  ['inference-protocol bodies in a worker', { inlineMaxBytes: 0 }, sendInference],
  ['JSON bodies in a worker', { inlineMaxBytes: 0 }, sendJson],
] as const)('faults in the pool - %s', (_name, overrides, send) => {
  let app: FastifyInstance;
  let expected: string;
  beforeAll(async () => {
    app = await buildTestApp({ ...overrides, workerMaxMemoryMb: 64, requestTimeoutMs: 1500 }, { poolWorkerFile: faultyWorker });
    expected = (await send(app)).raw;
  });
  afterAll(() => app.close());

  const cases = [
    ['a worker thread that exits mid-task', -7001, 'XENT_WORKER_FAILED'],
    ['a thrown non-Error', -7002, 'XENT_WORKER_FAILED'],
    ['out of memory in a worker', -7003, 'XENT_WORKER_FAILED'],
    ['a task that never ends', -7004, 'XENT_TIMEOUT'],
  ] as const;

  for (const [name, ignoreIndex, code] of cases) {
    it(`${name} - 503 ${code} with Retry-After, then the next requests succeed`, async () => {
      const failuresBefore = await metric(app, 'xent_worker_failures_total');
      const res = await send(app, ignoreIndex);
      expect(res.status).toBe(503);
      expect(res.body.code).toBe(code);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.raw).not.toMatch(/thrown string|heap|stack/i); // nothing internal leaks
      if (code === 'XENT_WORKER_FAILED') expect(await metric(app, 'xent_worker_failures_total')).toBe(failuresBefore + 1);
      for (let i = 0; i < 6; i++) {
        const next = await send(app);
        expect(next.status).toBe(200);
        expect(next.raw).toBe(expected);
      }
      expect((await app.inject('/healthz')).statusCode).toBe(200);
      // The pool is back to full strength: the failed worker was replaced, not leaked.
      for (let i = 0; i < 100 && (await metric(app, 'xent_pool_threads')) !== 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await metric(app, 'xent_pool_threads')).toBe(2);
    }, 30_000);
  }
});

describe('a task that never ends, over a real connection', () => {
  let app: FastifyInstance;
  let origin: string;
  beforeAll(async () => {
    app = await buildTestApp({ inlineMaxBytes: 0, requestTimeoutMs: 1500 }, { poolWorkerFile: faultyWorker });
    origin = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => app.close());

  // The socket's own idle timer must not cut the connection before the scoring deadline has been answered.
  it.each([
    ['POST /loss', '/loss', { ...good, ignore_index: -7004 }],
    [
      'the inference protocol',
      '/v2/models/cross_entropy/infer',
      {
        parameters: { ignore_index: -7004 },
        inputs: [
          { name: 'logits', shape: [2, 3], datatype: 'FP64', data: good.logits.flat() },
          { name: 'labels', shape: [2], datatype: 'INT64', data: good.labels },
        ],
      },
    ],
  ] as const)('%s - the client receives 503 XENT_TIMEOUT with Retry-After, not a closed connection', async (_name, path, body) => {
    const started = Date.now();
    const res = await fetch(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { code: string }).code).toBe('XENT_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  }, 30_000);
});

describe('overload', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({ workers: 1, maxQueue: 1, inlineMaxBytes: 0, requestTimeoutMs: 2000 }, { poolWorkerFile: faultyWorker });
  });
  afterAll(() => app.close());

  it('more concurrent requests than the worker and queue hold - fast 503 XENT_OVERLOADED with Retry-After, /healthz answers', async () => {
    const busy = post(app, '/loss', { ...good, ignore_index: -7004 }); // occupies the only worker until the timeout
    await new Promise((r) => setTimeout(r, 100));
    const queued = post(app, '/loss', good); // waits in the queue of 1
    await new Promise((r) => setTimeout(r, 50));
    const refused = await Promise.all(Array.from({ length: 5 }, () => post(app, '/loss', good)));
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.body.code).toBe('XENT_OVERLOADED');
      expect(r.headers['retry-after']).toBe('1');
    }
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(503); // the queue is full: do not send more
    expect(ready.json().code).toBe('XENT_NOT_READY');
    expect((await busy).body.code).toBe('XENT_TIMEOUT');
    // The queued request was accepted: it is answered (here it runs out of time behind the stuck one), not refused.
    expect((await queued).body.code).not.toBe('XENT_OVERLOADED');
    expect((await post(app, '/loss', good)).status).toBe(200);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  }, 30_000);
});

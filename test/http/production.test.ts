import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyMatches } from '../../src/http/guards.js';
import { handleClientError } from '../../src/http/clientError.js';
import { createHash } from 'node:crypto';
import { buildTestApp, post } from '../helper.js';

const KEY = 'k3y-0123456789abcdef';
const body = { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] };

const send = (app: FastifyInstance, url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

describe('API keys', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({ apiKeys: [KEY, 'another-key-0123456789'] });
  });
  afterAll(() => app.close());

  it('scoring without a key - 401 problem with WWW-Authenticate', async () => {
    for (const url of ['/loss', '/cost']) {
      const res = await send(app, url);
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json().code).toBe('XENT_UNAUTHORIZED');
    }
  });

  it('a wrong key, a key prefix or another scheme - 401', async () => {
    for (const authorization of [`Bearer ${KEY}x`, `Bearer ${KEY.slice(0, -1)}`, `Basic ${KEY}`, 'Bearer ', KEY]) {
      const res = await send(app, '/cost', { authorization });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.body).not.toContain(KEY); // keys are never echoed
    }
  });

  it('a right key - 200, either of the configured keys', async () => {
    expect((await send(app, '/cost', { authorization: `Bearer ${KEY}` })).statusCode).toBe(200);
    expect((await send(app, '/loss', { authorization: 'bearer another-key-0123456789' })).statusCode).toBe(200);
  });

  it('the inference endpoint needs the key too; health, metrics and docs stay open', async () => {
    const infer = await app.inject({ method: 'POST', url: '/v2/models/cross_entropy/infer', payload: {} });
    expect(infer.statusCode).toBe(401);
    for (const url of ['/healthz', '/readyz', '/metrics', '/docs/json', '/v2/health/live', '/v2']) {
      expect((await app.inject(url)).statusCode, url).toBe(200);
    }
  });

  it('keyMatches - compares digests of every key, whatever the presented length', () => {
    const keys = [KEY, 'other-key-0123456789'].map((k) => createHash('sha256').update(k).digest());
    expect(keyMatches(KEY, keys)).toBe(true);
    expect(keyMatches('other-key-0123456789', keys)).toBe(true);
    expect(keyMatches('', keys)).toBe(false);
    expect(keyMatches('x'.repeat(10_000), keys)).toBe(false);
  });
});

describe('rate limit', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({ rateLimit: 3, rateLimitWindowMs: 60_000 });
  });
  afterAll(() => app.close());

  it('past RATE_LIMIT scoring requests per window - 429 problem with Retry-After; probes are not counted', async () => {
    for (let i = 0; i < 10; i++) expect((await app.inject('/healthz')).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await send(app, '/cost')).statusCode).toBe(200);
    const res = await send(app, '/cost');
    expect(res.statusCode).toBe(429);
    expect(res.json().code).toBe('XENT_RATE_LIMITED');
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });
});

describe('metrics', () => {
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

  const value = (text: string, line: string) => {
    const found = text.split('\n').find((l) => l.startsWith(line));
    return found === undefined ? undefined : Number(found.slice(line.length).trim());
  };

  it('GET /metrics - Prometheus text with requests, durations, scoring, pool and event-loop figures', async () => {
    await send(app, '/cost');
    await send(app, '/loss');
    await post(app, '/loss', { logits: [[0, 1]], labels: [5] });
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(value(text, 'xent_http_requests_total{route="/cost",method="POST",status="200"}')).toBe(1);
    expect(value(text, 'xent_http_requests_total{route="/loss",method="POST",status="200"}')).toBe(1);
    expect(value(text, 'xent_http_requests_total{route="/loss",method="POST",status="400"}')).toBe(1);
    expect(value(text, 'xent_http_request_duration_seconds_count{route="/cost",method="POST",status="200"}')).toBe(1);
    expect(value(text, 'xent_scoring_seconds_count{path="inline",protocol="score"}')).toBe(2); // accepted requests only, not the 400
    expect(value(text, 'xent_samples_scored_total')).toBe(4);
    expect(value(text, 'xent_elements_scored_total')).toBe(12);
    expect(value(text, 'xent_pool_queue_size')).toBe(0);
    expect(value(text, 'xent_pool_threads')).toBe(2);
    expect(text).toMatch(/^xent_pool_utilization \d/m);
    expect(text).toMatch(/^xent_nodejs_eventloop_lag_seconds \d/m);
    expect(value(text, 'xent_worker_failures_total')).toBe(0);
  });

  it('counts bodies scored in a worker under their own path', async () => {
    await send(workerApp, '/cost');
    const text = (await workerApp.inject('/metrics')).body;
    expect(value(text, 'xent_scoring_seconds_count{path="worker",protocol="score"}')).toBe(1);
    expect(value(text, 'xent_samples_scored_total')).toBe(2);
  });
});

describe('security headers and logs', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(() => app.close());

  it('sets security headers: a deny-all policy on API answers (errors included), helmet\'s full set on the docs page', async () => {
    const answers = [
      await app.inject('/healthz'),
      await app.inject({ method: 'POST', url: '/cost', payload: { logits: [[1, 2]], labels: [0] } }),
      await app.inject({ method: 'POST', url: '/loss', payload: { logits: [[1, 2]], labels: [7] } }),
      await app.inject('/no-such-route'),
    ];
    for (const res of answers) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    }
    const page = await app.inject('/docs');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(page.headers['strict-transport-security']).toMatch(/^max-age=/);
  });
});

describe('connection deadlines', () => {
  /** The Node server's deadlines for a REQUEST_TIMEOUT_MS, read from a built app. */
  async function deadlinesFor(requestTimeoutMs: number): Promise<{ request: number; headers: number; idle: number }> {
    const app = await buildTestApp({ requestTimeoutMs });
    try {
      return { request: app.server.requestTimeout, headers: app.server.headersTimeout, idle: app.server.timeout };
    } finally {
      await app.close();
    }
  }

  it('REQUEST_TIMEOUT_MS = 1500 - request and header deadlines at 1.5 s, the idle socket timer at 3.5 s (after the 408 or 503 can be sent)', async () => {
    expect(await deadlinesFor(1500)).toEqual({ request: 1500, headers: 1500, idle: 3500 });
  });

  it('REQUEST_TIMEOUT_MS = 20 000 - the idle socket timer at twice the deadline, 40 s', async () => {
    expect((await deadlinesFor(20_000)).idle).toBe(40_000);
  });

  it('REQUEST_TIMEOUT_MS = 0 - no limit at all, Node\'s default 60 s header deadline included', async () => {
    expect(await deadlinesFor(0)).toEqual({ request: 0, headers: 0, idle: 0 });
  });

  it('a parser error on a connection whose response has begun - nothing written into that response, the socket closed', () => {
    const written: string[] = [];
    let destroyed = false;
    const socket = {
      destroyed: false,
      writable: true,
      _httpMessage: { headersSent: true },
      write: (s: string) => written.push(s),
      destroy: () => (destroyed = true),
    };
    const log = { trace: () => {} };
    handleClientError.call({ log } as never, Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), socket as never);
    expect({ written, destroyed }).toEqual({ written: [], destroyed: true });
    // With no response begun, the problem document is written.
    socket._httpMessage.headersSent = false;
    handleClientError.call({ log } as never, Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), socket as never);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});

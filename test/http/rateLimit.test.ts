/**
 * The rate limit counts clients, not headers: with API_KEYS the bucket is the key the request was authenticated
 * with (however the header spells it), without keys the client address (X-Forwarded-For only as far as TRUST_PROXY
 * trusts it). Made-up headers never make a limited client someone new. And TRUST_PROXY is parsed like every variable.
 * One app per configuration; each test uses addresses and keys of its own, so the buckets do not meet.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { buildTestApp } from '../helper.js';

const KEYS = Array.from({ length: 6 }, (_, i) => `k3y-${i}-0123456789abcdef`);
const LIMIT = 3;
const body = JSON.stringify({ logits: [[2, 1, 0.1]], labels: [0] });
const inferBody = JSON.stringify({
  inputs: [
    { name: 'logits', shape: [1, 3], datatype: 'FP64', data: [2, 1, 0.1] },
    { name: 'labels', shape: [1], datatype: 'INT64', data: [0] },
  ],
});

const configs = {
  open: {},
  trustAll: { trustProxy: true },
  trustOneHop: { trustProxy: 1 },
  trustList: { trustProxy: ['10.0.0.0/8'] },
  keys: { apiKeys: KEYS },
} satisfies Record<string, Partial<Config>>;
const apps = {} as Record<keyof typeof configs, FastifyInstance>;
beforeAll(async () => {
  for (const [name, overrides] of Object.entries(configs)) {
    apps[name as keyof typeof configs] = await buildTestApp({ workers: 1, rateLimit: LIMIT, rateLimitWindowMs: 60_000, ...overrides });
  }
});
afterAll(async () => {
  for (const app of Object.values(apps)) await app.close();
});

/** POST /cost (or the inference endpoint) from `remoteAddress` with extra headers. */
function score(app: FastifyInstance, headers: Record<string, string>, remoteAddress: string, url = '/cost') {
  const options: InjectOptions = {
    method: 'POST',
    url,
    remoteAddress,
    payload: url === '/cost' ? body : inferBody,
    headers: { 'content-type': 'application/json', ...headers },
  };
  return app.inject(options);
}

const randomAuthorization = () => `Bearer ${randomBytes(12).toString('hex')}`;
const INFER = '/v2/models/cross_entropy/infer';

describe('without API keys the bucket is the client address', () => {
  it('a limited client sending random Authorization headers stays limited (20 of 20 refused)', async () => {
    const app = apps.open;
    for (let i = 0; i < LIMIT; i++) expect((await score(app, {}, '198.51.100.1')).statusCode).toBe(200);
    const after = await Promise.all(Array.from({ length: 20 }, () => score(app, { authorization: randomAuthorization() }, '198.51.100.1')));
    expect(after.map((r) => r.statusCode)).toEqual(Array(20).fill(429));
    const refused = after[0]!;
    expect(refused.json().code).toBe('XENT_RATE_LIMITED');
    expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    expect(refused.headers['x-request-id']).toBeDefined();
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('another address has its own bucket', async () => {
    const app = apps.open;
    for (let i = 0; i < LIMIT; i++) await score(app, {}, '198.51.100.2');
    expect((await score(app, {}, '198.51.100.2')).statusCode).toBe(429);
    expect((await score(app, {}, '198.51.100.3')).statusCode).toBe(200);
  });

  it('X-Forwarded-For is not believed by default (TRUST_PROXY off): made-up addresses stay limited', async () => {
    const app = apps.open;
    for (let i = 0; i < LIMIT; i++) await score(app, {}, '198.51.100.4');
    for (let i = 0; i < 5; i++) expect((await score(app, { 'x-forwarded-for': `203.0.113.${i + 1}` }, '198.51.100.4')).statusCode).toBe(429);
  });

  it('IPv6 addresses of one /64 share a bucket', async () => {
    const app = apps.open;
    for (let i = 0; i < LIMIT; i++) expect((await score(app, {}, `2001:db8:1:2::${i + 1}`)).statusCode).toBe(200);
    expect((await score(app, {}, '2001:db8:1:2:ffff::9')).statusCode).toBe(429);
    expect((await score(app, {}, '2001:db8:1:3::1')).statusCode).toBe(200);
  });

  it("the inference endpoint counts toward the same bucket, and its 429 is in the protocol's form", async () => {
    const app = apps.open;
    expect((await score(app, {}, '198.51.100.5', INFER)).statusCode).toBe(200);
    for (let i = 1; i < LIMIT; i++) expect((await score(app, {}, '198.51.100.5')).statusCode).toBe(200);
    const refused = await score(app, { authorization: randomAuthorization() }, '198.51.100.5', INFER);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({ error: expect.any(String), code: 'XENT_RATE_LIMITED' });
    expect((await score(app, {}, '198.51.100.5')).statusCode).toBe(429);
  });
});

describe('TRUST_PROXY: behind a proxy the client is the address the proxy saw', () => {
  it('true - the first X-Forwarded-For address is the client', async () => {
    const app = apps.trustAll;
    for (let i = 0; i < LIMIT; i++) expect((await score(app, { 'x-forwarded-for': '203.0.113.1' }, '10.0.0.2')).statusCode).toBe(200);
    expect((await score(app, { 'x-forwarded-for': '203.0.113.1' }, '10.0.0.3')).statusCode).toBe(429);
    expect((await score(app, { 'x-forwarded-for': '203.0.113.2' }, '10.0.0.2')).statusCode).toBe(200);
  });

  it('a hop count - the address the nearest proxy saw; what the client prepends does not count', async () => {
    const app = apps.trustOneHop;
    for (let i = 0; i < LIMIT; i++) await score(app, { 'x-forwarded-for': `192.0.2.${i + 1}, 203.0.113.1` }, '10.0.0.2');
    expect((await score(app, { 'x-forwarded-for': '192.0.2.99, 203.0.113.1' }, '10.0.0.2')).statusCode).toBe(429);
    expect((await score(app, { 'x-forwarded-for': '203.0.113.2' }, '10.0.0.2')).statusCode).toBe(200);
  });

  it('a list of proxies - X-Forwarded-For is believed from them only', async () => {
    const app = apps.trustList;
    for (let i = 0; i < LIMIT; i++) await score(app, { 'x-forwarded-for': '203.0.113.1' }, '10.1.2.3');
    expect((await score(app, { 'x-forwarded-for': '203.0.113.1' }, '10.9.9.9')).statusCode).toBe(429);
    // A client that is not a trusted proxy is itself, whatever it says.
    for (let i = 0; i < LIMIT; i++) await score(app, { 'x-forwarded-for': `203.0.113.${50 + i}` }, '198.51.100.20');
    expect((await score(app, { 'x-forwarded-for': '203.0.113.99' }, '198.51.100.20')).statusCode).toBe(429);
  });
});

describe('with API keys the bucket is the key', () => {
  it('every spelling of the Bearer scheme is the same key, hence the same bucket', async () => {
    const app = apps.keys;
    for (let i = 0; i < LIMIT; i++) expect((await score(app, { authorization: `Bearer ${KEYS[0]}` }, '198.51.100.1')).statusCode).toBe(200);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR', 'BeArEr']) {
      expect((await score(app, { authorization: `${scheme} ${KEYS[0]}` }, '198.51.100.1')).statusCode, scheme).toBe(429);
    }
  });

  it('another key has its own bucket, from the same address', async () => {
    const app = apps.keys;
    for (let i = 0; i < LIMIT; i++) await score(app, { authorization: `Bearer ${KEYS[1]}` }, '198.51.100.2');
    expect((await score(app, { authorization: `Bearer ${KEYS[1]}` }, '198.51.100.2')).statusCode).toBe(429);
    expect((await score(app, { authorization: `bearer ${KEYS[2]}` }, '198.51.100.2')).statusCode).toBe(200);
  });

  it('one key from many addresses is one client', async () => {
    const app = apps.keys;
    for (let i = 0; i < LIMIT; i++) await score(app, { authorization: `Bearer ${KEYS[3]}` }, `198.51.100.${10 + i}`);
    expect((await score(app, { authorization: `Bearer ${KEYS[3]}` }, '198.51.100.200')).statusCode).toBe(429);
  });

  it("a wrong key is answered 401 before the rate limit: it opens no bucket and uses up no one's", async () => {
    const app = apps.keys;
    for (let i = 0; i < 10; i++) {
      const res = await score(app, { authorization: i % 2 === 0 ? randomAuthorization() : `Bearer ${KEYS[4]}x` }, '198.51.100.30');
      expect(res.statusCode).toBe(401);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
    for (let i = 0; i < LIMIT; i++) expect((await score(app, { authorization: `Bearer ${KEYS[4]}` }, '198.51.100.30')).statusCode).toBe(200);
    expect((await score(app, { authorization: `Bearer ${KEYS[4]}` }, '198.51.100.30')).statusCode).toBe(429);
    // Once the key is limited, a wrong key is still a 401 (not a 200 from a fresh bucket, nor a 429).
    expect((await score(app, { authorization: randomAuthorization() }, '198.51.100.30')).statusCode).toBe(401);
  });

  it("the inference endpoint shares the key's bucket", async () => {
    const app = apps.keys;
    for (let i = 0; i < LIMIT; i++) await score(app, { authorization: `Bearer ${KEYS[5]}` }, '198.51.100.40');
    const refused = await score(app, { authorization: `BEARER ${KEYS[5]}` }, '198.51.100.40', INFER);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe('XENT_RATE_LIMITED');
  });
});

describe('TRUST_PROXY parsing', () => {
  const parse = (value: string) => loadConfig({ TRUST_PROXY: value }).trustProxy;

  it('off by default', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
  });

  it('true, false, a hop count (0 = false), addresses, CIDR ranges and named ranges', () => {
    expect(parse('true')).toBe(true);
    expect(parse('FALSE')).toBe(false);
    expect(parse('2')).toBe(2);
    expect(parse('0')).toBe(false);
    expect(parse('10.0.0.1')).toEqual(['10.0.0.1']);
    expect(parse(' 10.0.0.0/8, fd00::/8 ,loopback,uniquelocal ')).toEqual(['10.0.0.0/8', 'fd00::/8', 'loopback', 'uniquelocal']);
  });

  it('anything else is refused at start, naming the variable', () => {
    for (const value of ['yes', '-1', '1.5', '10.0.0.0/33', '::1/129', 'proxy.example.com', '10.0.0.1,,nonsense', ',', '101']) {
      expect(() => parse(value), value).toThrow(/TRUST_PROXY/);
    }
  });
});

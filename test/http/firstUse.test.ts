import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helper.js';

/**
 * What a new user meets first (issue #13, item 7): a 413 that says how big the body was, what the limit is and what to
 * do; the right status for the wrong method; and an answer at the root.
 */

let app: FastifyInstance;
let small: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
  small = await buildTestApp({ bodyLimit: 2048 });
});
afterAll(async () => {
  await app.close();
  await small.close();
});

describe('413 - a body over BODY_LIMIT says its size, the limit, the variable, and that binary tensors are smaller', () => {
  const body = JSON.stringify({ logits: [Array.from({ length: 400 }, () => 0.123456789)], labels: [0] });

  it('POST /loss with a 4,4xx-byte body and a 2,048-byte limit - 413 naming both, BODY_LIMIT and binary tensors', async () => {
    const res = await small.inject({ method: 'POST', url: '/loss', payload: body, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(413);
    const problem = res.json();
    expect(problem.code).toBe('XENT_BODY_TOO_LARGE');
    expect(problem.detail).toContain(String(Buffer.byteLength(body)));
    expect(problem.detail).toContain('2048');
    expect(problem.detail).toContain('BODY_LIMIT');
    expect(problem.detail).toMatch(/binary/);
    expect(problem.detail).toMatch(/2–4×/);
  });

  it('a declared Content-Length over the limit - refused before reading, with the declared size', async () => {
    const res = await small.inject({ method: 'POST', url: '/cost', payload: '{}', headers: { 'content-type': 'application/json', 'content-length': '5000000' } });
    expect(res.statusCode).toBe(413);
    expect(res.json().detail).toContain('5000000');
    expect(res.json().detail).toContain('BODY_LIMIT');
  });

  it('the inference protocol - the same facts in its error object', async () => {
    const res = await small.inject({ method: 'POST', url: '/v2/models/cross_entropy/infer', payload: body, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('XENT_BODY_TOO_LARGE');
    expect(res.json().error).toContain('2048');
    expect(res.json().error).toContain('BODY_LIMIT');
  });
});

describe('405 - a route asked with the wrong method says which methods it takes', () => {
  it.each([
    ['GET', '/loss', 'POST'],
    ['GET', '/cost', 'POST'],
    ['PUT', '/loss', 'POST'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/metrics', 'GET, HEAD'],
  ] as const)('%s %s - 405 XENT_METHOD_NOT_ALLOWED with Allow: %s', async (method, url, allow) => {
    const res = await app.inject({ method, url });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({ status: 405, code: 'XENT_METHOD_NOT_ALLOWED', instance: url });
  });

  it.each([
    ['GET', '/v2/models/cross_entropy/infer', 'POST'],
    ['GET', '/v2/models/cross_entropy/versions/1/infer', 'POST'],
    ['POST', '/v2/health/ready', 'GET, HEAD'],
  ] as const)('%s %s - 405 in the inference protocol\'s form, with Allow: %s', async (method, url, allow) => {
    const res = await app.inject({ method, url });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'XENT_METHOD_NOT_ALLOWED' });
  });

  it('a path no route has - still 404', async () => {
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v2/models/cross_entropy/nothing' })).statusCode).toBe(404);
  });
});

describe('GET / - a short JSON index', () => {
  it('name, version and links to the docs, the inference protocol and the probes, each of which answers', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const index = res.json();
    expect(index).toMatchObject({ name: 'xent', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(index.links).toMatchObject({ docs: '/docs', v2: '/v2', healthz: '/healthz' });
    for (const link of Object.values(index.links as Record<string, string>)) {
      const [method, path] = link.includes(' ') ? link.split(' ') : ['GET', link];
      if (method !== 'GET') continue;
      const answer = await app.inject({ method: 'GET', url: path! });
      expect([200, 302], link).toContain(answer.statusCode);
    }
  });
});

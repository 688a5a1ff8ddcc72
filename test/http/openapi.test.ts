import { readFile } from 'node:fs/promises';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/codec/problems.js';
import { buildTestApp } from '../helper.js';

let app: FastifyInstance;
let document: Record<string, unknown> & { paths: Record<string, Record<string, { description?: string; responses: Record<string, unknown> }>> };
beforeAll(async () => {
  app = await buildTestApp({ workers: 1 });
  document = (await app.inject('/docs/json')).json();
});
afterAll(() => app.close());

describe('OpenAPI document', () => {
  it('openapi/openapi.json is the document the code serves (run `npm run openapi` after changing a route)', async () => {
    const exported = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
    expect(exported).toEqual(document);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('every scoring route has a description, examples and a response per status code', () => {
    for (const url of ['/loss', '/cost']) {
      const op = document.paths[url]!.post!;
      expect(op.description!.length).toBeGreaterThan(50);
      expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '413', '415', '422', '429', '503']);
      const body = (op as unknown as { requestBody: { content: Record<string, { examples: object }> } }).requestBody;
      expect(Object.keys(body.content['application/json']!.examples).length).toBeGreaterThan(0);
    }
  });

  it('the documented answers are what the service answers to the documented requests, byte for byte', async () => {
    type Op = {
      requestBody: { content: Record<string, { schema: { examples?: unknown[] }; examples?: Record<string, { value: unknown }> }> };
      responses: Record<string, { content: Record<string, { schema: { examples?: unknown[] } }> }>;
    };
    const cases: [string, string][] = [
      ['/loss', '/loss'],
      ['/cost', '/cost'],
      ['/v2/models/{model_name}/infer', '/v2/models/cross_entropy/infer'],
    ];
    for (const [path, url] of cases) {
      const op = document.paths[path]!.post as unknown as Op;
      const content = op.requestBody.content['application/json']!;
      const request = content.examples === undefined ? content.schema.examples![0] : Object.values(content.examples)[0]!.value;
      const documented = op.responses['200']!.content['application/json']!.schema.examples![0];
      const res = await app.inject({ method: 'POST', url, payload: request as object });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe(JSON.stringify(documented));
    }
  });

  it('lists every error code', () => {
    const info = document.info as { description: string };
    for (const code of Object.keys(ERRORS)) expect(info.description).toContain(code);
  });
});

type Media = { schema?: unknown; examples?: Record<string, { summary?: string; value: unknown; 'x-request'?: ExampleRequest } & Record<string, unknown>> };
type Operation = { requestBody?: { content: Record<string, Media> }; responses: Record<string, { content?: Record<string, Media> }>; parameters?: { name: string; schema: { default?: unknown } }[] };
type ExampleRequest = { method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; body?: unknown };

/** Every operation of the document with its path and method. */
function operations(): [string, string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => [path, method, op as unknown as Operation] as [string, string, Operation]));
}

describe('OpenAPI document - a docs page that sells and teaches (issue #13, item 9)', () => {
  it('the description opens with what the service is and a two-line example; the error catalogue has its own section after it', () => {
    const description = (document.info as { description: string }).description;
    expect(description.startsWith('Exact categorical cross-entropy as a service.')).toBe(true);
    const example = description.indexOf('```sh\ncurl');
    const errors = description.indexOf('## Errors');
    expect(example).toBeGreaterThan(0);
    expect(example).toBeLessThan(600);
    expect(errors).toBeGreaterThan(example);
    expect(description.indexOf('XENT_')).toBeGreaterThan(errors);
  });

  it('request examples have names, not example1, example2', () => {
    for (const [path, method, op] of operations()) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        for (const name of Object.keys(media.examples ?? {})) expect(name, `${method} ${path} ${type}`).not.toMatch(/^example\d+$/);
      }
    }
    const loss = document.paths['/loss']!.post as unknown as Operation;
    expect(Object.keys(loss.requestBody!.content['application/json']!.examples!)).toEqual(
      expect.arrayContaining(['two samples, labels', 'soft targets in bits']),
    );
  });

  it('no integer shows the safe-integer bounds ("status": -9007199254740991) as a sample', () => {
    expect(JSON.stringify(document)).not.toContain('9007199254740991');
  });

  it('every error response of the scoring and inference routes shows real problem documents, with their status and code', () => {
    for (const [path, method, op] of operations()) {
      if (!(method === 'post')) continue;
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const [type, media] = Object.entries(response.content ?? {})[0]!;
        const examples = Object.values(media.examples ?? {});
        expect(examples.length, `${path} ${status}`).toBeGreaterThan(0);
        for (const { value } of examples) {
          const code = (value as { code: string }).code as keyof typeof ERRORS;
          expect(ERRORS[code].status, `${path} ${status} ${code}`).toBe(Number(status));
          if (type === 'application/problem+json') expect(value).toMatchObject({ status: Number(status), code, title: ERRORS[code].title, instance: path });
          else expect(value).toEqual({ error: expect.any(String), code });
        }
      }
    }
  });

  it('every documented answer that carries its request (x-request) is what the service answers to it, byte for byte', async () => {
    let replayed = 0;
    for (const [path, method, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        for (const [name, example] of Object.entries(Object.values(response.content ?? {})[0]?.examples ?? {})) {
          const request = example['x-request'];
          if (request === undefined) continue;
          const res = await app.inject({ method: request.method, url: request.url, headers: request.headers ?? {}, ...(request.body === undefined ? {} : { payload: JSON.stringify(request.body) }) });
          expect(res.statusCode, `${method} ${path} ${status} ${name}`).toBe(Number(status));
          expect(res.body, `${method} ${path} ${status} ${name}`).toBe(JSON.stringify(example.value));
          replayed++;
        }
      }
    }
    expect(replayed).toBeGreaterThanOrEqual(10);
  });

  it('the 401, 413 and 429 examples are the answers of a service with API keys, a 100 MiB body and RATE_LIMIT=100', async () => {
    const loss = document.paths['/loss']!.post as unknown as Operation;
    const example = (status: number) => Object.values(loss.responses[String(status)]!.content!['application/problem+json']!.examples!)[0]!.value;
    const keyed = await buildTestApp({ workers: 1, apiKeys: ['openapi-test-key-0123456789'] });
    const limited = await buildTestApp({ workers: 1, rateLimit: 100 });
    try {
      const body = { method: 'POST' as const, url: '/loss', payload: '{"logits": [[1, 2]], "labels": [0]}', headers: { 'content-type': 'application/json' } };
      expect((await keyed.inject(body)).json()).toEqual(example(401));
      const huge = await app.inject({ ...body, headers: { ...body.headers, 'content-length': String(100 * 1024 * 1024) } });
      expect(huge.json()).toEqual(example(413));
      let last;
      for (let i = 0; i < 101; i++) last = await limited.inject(body);
      expect(last!.json()).toEqual(example(429));
    } finally {
      await keyed.close();
      await limited.close();
    }
  });

  it('model_name defaults to cross_entropy (and model_version to 1), so "Try it out" works as it stands', () => {
    for (const [path, , op] of operations()) {
      for (const parameter of op.parameters ?? []) {
        if (parameter.name === 'model_name') expect(parameter.schema.default, path).toBe('cross_entropy');
        if (parameter.name === 'model_version') expect(parameter.schema.default, path).toBe('1');
      }
    }
  });

  it('the inference route shows a binary example, and it is a request the service answers', async () => {
    const infer = document.paths['/v2/models/{model_name}/infer']!.post as unknown as Operation;
    const [example] = Object.values(infer.requestBody!.content['application/octet-stream']!.examples!);
    const length = example!['x-inference-header-content-length'] as number;
    const res = await app.inject({
      method: 'POST',
      url: '/v2/models/cross_entropy/infer',
      payload: Buffer.from(example!.value as string, 'latin1'),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(length) },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().outputs).toEqual([{ name: 'cost', datatype: 'FP64', shape: [1], data: [expect.any(Number)] }]);
  });
});

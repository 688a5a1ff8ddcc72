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

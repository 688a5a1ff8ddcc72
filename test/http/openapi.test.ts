import { readFile } from 'node:fs/promises';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/http/errors.js';
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
      expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '413', '415', '422', '503']);
      const body = (op as unknown as { requestBody: { content: Record<string, { examples: object }> } }).requestBody;
      expect(Object.keys(body.content['application/json']!.examples).length).toBeGreaterThan(0);
    }
  });

  it('lists every error code', () => {
    const info = document.info as { description: string };
    for (const code of Object.keys(ERRORS)) expect(info.description).toContain(code);
  });
});

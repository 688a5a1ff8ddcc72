/**
 * The README's worked examples are the service's answers: every request marked `<!-- readme-example POST /path -->`
 * (the next JSON block) is sent, and the answer must equal the JSON block after it, byte for byte once both are
 * written compactly.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from './helper.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const EXAMPLE = /<!-- readme-example POST (\S+) -->\s*```json\n([\s\S]*?)\n```\s*```json\n([\s\S]*?)\n```/g;
const examples = [...README.matchAll(EXAMPLE)].map((m) => ({ url: m[1]!, request: m[2]!, answer: m[3]! }));

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

describe('README examples', () => {
  it('there are worked examples to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(examples.map((e, i) => [i, e.url, e] as const))('example %i (POST %s) - the documented answer is the service\'s', async (_, url, e) => {
    const res = await post(app, url, JSON.parse(e.request));
    expect(res.status).toBe(200);
    expect(res.raw).toBe(JSON.stringify(JSON.parse(e.answer)));
  });
});

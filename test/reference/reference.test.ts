import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';
import { D, exact } from './highPrecision.mjs';

/**
 * The service against the committed 50-digit fixture (test/reference/cases.json, made by generate.mjs): every
 * per-sample loss and aggregate within TOLERANCE relative, compared in decimal so that the comparison itself does not
 * round; a reference of exactly 0 demands exactly 0. The same requests through the worker paths must answer the
 * same bytes.
 */
const TOLERANCE = new D('1e-13');

interface Case {
  name: string;
  request: Record<string, unknown>;
  expected: {
    losses: unknown;
    sum: string;
    cost: string | null;
    count: number;
    total_weight: string;
    perplexity: string | null;
    accuracy: string | null;
    unit: string;
  };
}

const { cases } = JSON.parse(readFileSync(new URL('./cases.json', import.meta.url), 'utf8')) as { cases: Case[] };

function expectClose(got: unknown, want: string | null, what: string): void {
  if (want === null) {
    expect(got, what).toBeNull();
    return;
  }
  expect(typeof got, what).toBe('number');
  const w = new D(want);
  if (w.isZero()) {
    expect(got, what).toBe(0);
    return;
  }
  const error = exact(got as number).minus(w).abs().div(w.abs());
  expect(error.lte(TOLERANCE), `${what}: got ${got as number}, want ${want}, relative error ${error.toExponential(2)}`).toBe(true);
}

function flatten(x: unknown): unknown[] {
  return Array.isArray(x) ? x.flatMap(flatten) : [x];
}

let inline: FastifyInstance;
let worker: FastifyInstance;
let rawWorker: FastifyInstance;
beforeAll(async () => {
  inline = await buildTestApp();
  worker = await buildTestApp({ inlineMaxBytes: 0 });
  rawWorker = await buildTestApp({ inlineMaxBytes: 0 });
});
afterAll(async () => {
  for (const app of [inline, worker, rawWorker]) await app.close();
});

describe(`reference fixture (${cases.length} cases, 50-digit decimal, tolerance 1e-13)`, () => {
  it('has every kind of case', () => {
    expect(cases.length).toBeGreaterThan(80);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const res = await post(inline, '/loss', c.request);
      expect(res.status, res.raw.slice(0, 300)).toBe(200);
      const b = res.body;
      const got = flatten(b.losses);
      const want = flatten(c.expected.losses) as string[];
      expect(got).toHaveLength(want.length);
      expect(JSON.stringify(b.losses).replace(/[\d.eE+-]+/g, '0')).toBe(JSON.stringify(c.expected.losses).replace(/"[^"]*"/g, '0'));
      want.forEach((w, i) => expectClose(got[i], w, `losses[${i}]`));
      expectClose(b.sum, c.expected.sum, 'sum');
      expectClose(b.cost, c.expected.cost, 'cost');
      expectClose(b.total_weight, c.expected.total_weight, 'total_weight');
      expectClose(b.perplexity, c.expected.perplexity, 'perplexity');
      expectClose(b.accuracy, c.expected.accuracy, 'accuracy');
      expect(b.count).toBe(c.expected.count);
      expect(b.unit).toBe(c.expected.unit);
      for (const other of [worker, rawWorker]) expect((await post(other, '/loss', c.request)).raw).toBe(res.raw);
    });
  }
});

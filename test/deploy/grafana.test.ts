/**
 * The Grafana dashboard (deploy/grafana/xent.json) and the README's PromQL: every query names metrics the service
 * exports, checked against what the real app's /metrics says after scored requests that name a model; every Grafana
 * variable a query uses is defined; the panels are well-formed.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';

const root = new URL('../../', import.meta.url);
const dashboard = JSON.parse(readFileSync(new URL('deploy/grafana/xent.json', root), 'utf8')) as Dashboard;

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** PromQL words that are not metric names. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * The metric names a PromQL expression selects: what is left of it without strings, label matchers, ranges, grouping
 * clauses and Grafana variables is names, numbers, operators and calls; a name not followed by `(` is a metric.
 */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = s[m.index - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // a number's exponent or a duration's unit
    if (s.slice(m.index + m[0].length).trimStart().startsWith('(')) continue; // a function or an aggregation
    if (KEYWORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const queries = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** The README's PromQL: the ```promql blocks. */
const readmeQueries = [...readFileSync(new URL('README.md', root), 'utf8').matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((m) =>
  m[1]!
    .split(/\n\s*\n/)
    .map((q) => q.replace(/^#.*$/gm, '').trim())
    .filter((q) => q !== ''),
);

describe('metricNames', () => {
  it('finds the metrics and nothing else - functions, labels, ranges, grouping, numbers, variables', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"/x", b="c"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(x_sum[5m])) / sum(rate(y_sum[5m] offset 1h)) > 1e3 and on(model) z')).toEqual(['x_sum', 'y_sum', 'z']);
    expect(metricNames('exp(sum without (instance) (a) / b)')).toEqual(['a', 'b']);
  });
});

describe('deploy/grafana/xent.json', () => {
  let app: FastifyInstance;
  let exported: Set<string>;
  beforeAll(async () => {
    app = await buildTestApp();
    // A scored request naming a model (every model counter), one through a stream, then the scrape.
    expect((await post(app, '/cost', { logits: [[0, 1], [2, 0]], labels: [1, 1], model: 'dash' })).status).toBe(200);
    const line = JSON.stringify({ logits: [[0, 1]], labels: [1], model: 'dash' });
    await app.inject({ method: 'POST', url: '/cost/stream', payload: line, headers: { 'content-type': 'application/x-ndjson' } });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    exported = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(l)![0]));
  });
  afterAll(async () => {
    await app.close();
  });

  it('has queries, each naming at least one metric', () => {
    expect(queries.length).toBeGreaterThanOrEqual(10);
    for (const q of queries) expect(metricNames(q.expr), q.panel).not.toEqual([]);
  });

  it('every metric a panel queries is one the service exports', () => {
    for (const q of queries) {
      for (const name of metricNames(q.expr)) expect(exported.has(name), `${q.panel}: ${name}`).toBe(true);
    }
  });

  it('the model counters are all on it: cost, perplexity, accuracy, samples and overflow', () => {
    const used = new Set(queries.flatMap((q) => metricNames(q.expr)));
    for (const name of ['xent_model_loss_nats_sum', 'xent_model_weight_sum', 'xent_model_samples_total', 'xent_model_correct_total', 'xent_model_overflow_total']) {
      expect(used.has(name), name).toBe(true);
    }
  });

  it('variables - the model list comes from an exported metric, and every variable a query uses is defined', () => {
    const defined = new Set(dashboard.templating.list.map((v) => v.name));
    const model = dashboard.templating.list.find((v) => v.name === 'model')!;
    const query = typeof model.query === 'string' ? model.query : model.query!.query;
    const [, metric] = /^label_values\((\w+),\s*model\)$/.exec(query)!;
    expect(exported.has(metric!)).toBe(true);
    for (const q of queries) {
      for (const [, name] of q.expr.matchAll(/\$\{?(\w+)\}?/g)) {
        if (!name!.startsWith('__')) expect(defined.has(name!), `${q.panel}: $${name}`).toBe(true);
      }
    }
  });

  it('panels - unique ids, on the 24-column grid, every query on the Prometheus variable with its own refId', () => {
    const panels = allPanels(dashboard.panels);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
    }
    expect(dashboard.uid).toBe('xent');
  });
});

describe('README PromQL', () => {
  let exported: Set<string>;
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp();
    await post(app, '/cost', { logits: [[0, 1]], labels: [1], model: 'readme' });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    exported = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(l)![0]));
  });
  afterAll(async () => {
    await app.close();
  });

  it('the windowed cost, perplexity and accuracy per model are shown, on exported metrics only', () => {
    expect(readmeQueries.length).toBeGreaterThanOrEqual(3);
    for (const q of readmeQueries) {
      const names = metricNames(q);
      expect(names, q).not.toEqual([]);
      for (const name of names) expect(exported.has(name), `${q}: ${name}`).toBe(true);
    }
  });
});

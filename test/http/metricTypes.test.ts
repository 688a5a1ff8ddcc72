import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledCounter, LabelledHistogram } from '../../src/http/metricTypes.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED: [string, string, number][] = [
  ['/cost', '200', 0.0004],
  ['/cost', '200', 0.001],
  ['/cost', '200', 0.05],
  ['/loss', '400', 3],
  ['/cost', '200', 0.7],
];

/** The same observations through prom-client's own metrics and through ours, in two registries. */
function both() {
  const theirs = new Registry();
  const ours = new Registry();
  const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['route', 'status'], buckets: BUCKETS, registers: [theirs] });
  const c = new Counter({ name: 'c_total', help: 'c', labelNames: ['route', 'status'], registers: [theirs] });
  const lh = new LabelledHistogram({ name: 'h_seconds', help: 'h', labelNames: ['route', 'status'], buckets: BUCKETS, registers: [ours] });
  const lc = new LabelledCounter({ name: 'c_total', help: 'c', labelNames: ['route', 'status'], registers: [ours] });
  for (const [route, status, v] of OBSERVED) {
    h.labels(route, status).observe(v);
    c.labels(route, status).inc(2);
    lh.labels(route, status).observe(v);
    lc.labels(route, status).inc(2);
  }
  return { theirs, ours };
}

describe('LabelledCounter and LabelledHistogram - prom-client metrics without per-call label hashing', () => {
  it('the Prometheus text is prom-client’s, line for line', async () => {
    const { theirs, ours } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('summed across registries (several HTTP processes) as prom-client’s own are', async () => {
    const a = both();
    const b = both();
    const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
    const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('a label count other than labelNames’ - refused', () => {
    const c = new LabelledCounter({ name: 'x_total', help: 'x', labelNames: ['a'], registers: [new Registry()] });
    expect(() => c.labels()).toThrow(/labels a/);
  });
});

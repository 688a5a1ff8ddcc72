import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BodyJob } from '../codec/body.js';
import type { ScoringObserver, ScoringPath } from '../pool/dispatch.js';
import type { ScorePool } from '../pool/scorePool.js';
import type { SharedBodies } from '../pool/sharedBodies.js';
import { LabelledCounter, LabelledHistogram } from './metricTypes.js';

type Protocol = BodyJob['protocol'];

/**
 * The service's Prometheus metrics, on a registry of its own (one per app, so tests can build many apps). With
 * several HTTP processes, GET /metrics answers the sum over all of them, as one process would count (prom-client's
 * cluster aggregation: counters and histograms summed, each gauge by its `aggregator`), not a series per process:
 * any process may answer a scrape, and the service, not its processes, is what dashboards and alerts watch.
 */
export class Metrics implements ScoringObserver {
  readonly registry = new Registry();
  // The per-request metrics are recorded without prom-client's per-call label hashing (metricTypes.ts).
  readonly #requests = new LabelledCounter({
    name: 'xent_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly #duration = new LabelledHistogram({
    name: 'xent_http_request_duration_seconds',
    help: 'Time from request to response, by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly #scoring = new LabelledHistogram({
    name: 'xent_scoring_seconds',
    help: 'Time to score one accepted request body (decode, validate, compute, encode; in a worker, queueing too), by where it ran and the protocol',
    labelNames: ['path', 'protocol'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly #samples = new LabelledCounter({ name: 'xent_samples_scored_total', help: 'Samples scored', registers: [this.registry] }).labels();
  readonly #elements = new LabelledCounter({
    name: 'xent_elements_scored_total',
    help: 'Input numbers (samples × classes) scored',
    registers: [this.registry],
  }).labels();
  readonly #workerFailures = new Counter({
    name: 'xent_worker_failures_total',
    help: 'Tasks lost because a worker thread failed (the pool replaces the worker)',
    registers: [this.registry],
  });

  constructor(pool: ScorePool, sharedBodies?: SharedBodies) {
    collectDefaultMetrics({ register: this.registry, prefix: 'xent_' });
    new Gauge({
      name: 'xent_http_processes',
      help: 'HTTP processes whose figures these metrics add up (HTTP_PROCESSES; fewer while one is being replaced)',
      registers: [this.registry],
      aggregator: 'sum',
      collect() {
        this.set(1);
      },
    });
    new Gauge({
      name: 'xent_pool_queue_size',
      help: 'Tasks waiting for a worker thread',
      registers: [this.registry],
      aggregator: 'sum',
      collect() {
        this.set(pool.queueSize);
      },
    });
    new Gauge({
      name: 'xent_pool_utilization',
      help: 'Share of the pool capacity in use since start (piscina utilization; with several HTTP processes, their mean)',
      registers: [this.registry],
      aggregator: 'average',
      collect() {
        this.set(pool.utilization);
      },
    });
    if (sharedBodies !== undefined) {
      new Gauge({
        name: 'xent_body_buffers_bytes',
        help: 'Bytes of the shared buffers that large bodies are read into for the workers, in use or free',
        registers: [this.registry],
        aggregator: 'sum',
        collect() {
          this.set(sharedBodies.bytes);
        },
      });
      new Gauge({
        name: 'xent_body_buffers_leased',
        help: 'Large bodies on a shared buffer now (being read or scored)',
        registers: [this.registry],
        aggregator: 'sum',
        collect() {
          this.set(sharedBodies.leases);
        },
      });
    }
    new Gauge({
      name: 'xent_pool_threads',
      help: 'Worker threads alive',
      registers: [this.registry],
      aggregator: 'sum',
      collect() {
        this.set(pool.threads);
      },
    });
  }

  // One labelled child per path and protocol, made once.
  readonly #scoringBy = {
    inline: { score: this.#scoring.labels('inline', 'score'), inference: this.#scoring.labels('inline', 'inference') },
    worker: { score: this.#scoring.labels('worker', 'score'), inference: this.#scoring.labels('worker', 'inference') },
  } satisfies Record<ScoringPath, Record<Protocol, unknown>>;

  scored(path: ScoringPath, protocol: Protocol, seconds: number, samples: number, elements: number): void {
    this.#scoringBy[path][protocol].observe(seconds);
    this.#samples.inc(samples);
    this.#elements.inc(elements);
  }

  workerFailed(): void {
    this.#workerFailures.inc();
  }

  /**
   * Counts every response and its duration (routes labelled by their pattern, unknown URLs as one label) and serves
   * GET /metrics: `text()`, by default this registry's.
   */
  register(app: FastifyInstance, text: () => Promise<string> = () => this.registry.metrics()): void {
    // The labelled children are kept by one string key.
    const children = new Map<string, { requests: { inc(): void }; duration: { observe(v: number): void } }>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const status = String(reply.statusCode);
      const key = `${route} ${request.method} ${status}`;
      let child = children.get(key);
      if (child === undefined) {
        child = { requests: this.#requests.labels(route, request.method, status), duration: this.#duration.labels(route, request.method, status) };
        children.set(key, child);
      }
      child.requests.inc();
      child.duration.observe(reply.elapsedTime / 1000);
      done();
    });
    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics', tags: ['health'], response: { 200: { description: 'Prometheus text format', type: 'string' } } } },
      async (_request, reply) => {
        return reply.type(this.registry.contentType).serializer((x: unknown) => x as string).send(await text());
      },
    );
  }
}

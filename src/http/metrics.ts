import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BodyJob, Tally } from '../codec/body.js';
import type { ScoringObserver, ScoringPath } from '../pool/dispatch.js';
import type { ScorePool } from '../pool/scorePool.js';
import type { SharedBodies } from '../pool/sharedBodies.js';
import { LabelledCounter, LabelledHistogram } from './metricTypes.js';

type Protocol = BodyJob['protocol'];
const PROTOCOLS: readonly Protocol[] = ['score', 'inference', 'merge', 'line'];
/** The label that model names beyond MAX_MODELS share. */
export const OTHER_MODEL = '_other';

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

  constructor(
    pool: ScorePool,
    readonly maxModels = 50,
    sharedBodies?: SharedBodies,
  ) {
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
      name: 'xent_pool_pending_tasks',
      help: 'Tasks in the pool, running or waiting (the pool refuses new ones at WORKERS + MAX_QUEUE)',
      registers: [this.registry],
      aggregator: 'sum',
      collect() {
        this.set(pool.pending);
      },
    });
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
  readonly #scoringBy = Object.fromEntries(
    (['inline', 'worker'] as const).map((path) => [path, Object.fromEntries(PROTOCOLS.map((protocol) => [protocol, this.#scoring.labels(path, protocol)]))]),
  ) as unknown as Record<ScoringPath, Record<Protocol, { observe(v: number): void }>>;

  // Model quality (requests that name their `model`): sums Prometheus can rate across every replica. The number of
  // model labels is bounded (MAX_MODELS); names beyond it count under "_other", and the overflow is counted.
  readonly #modelLoss = new Counter({
    name: 'xent_model_loss_nats_sum',
    help: 'Sum of the losses scored for a model, in nats (rate(loss_sum) / rate(weight_sum) is its windowed cost)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly #modelWeight = new Counter({
    name: 'xent_model_weight_sum',
    help: 'Sum of the total weight scored for a model (the cost\'s denominator)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly #modelSamples = new Counter({
    name: 'xent_model_samples_total',
    help: 'Samples counted for a model (ignored or masked ones excluded)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly #modelCorrect = new Counter({
    name: 'xent_model_correct_total',
    help: 'Samples whose arg-max is the true class, for a model (where accuracy is defined)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly #modelOverflow = new Counter({
    name: 'xent_model_overflow_total',
    help: 'Scored requests whose model name was counted under "_other" because MAX_MODELS names were already in use',
    registers: [this.registry],
  });
  readonly #models = new Set<string>();

  scored(path: ScoringPath, protocol: Protocol, seconds: number, samples: number, elements: number): void {
    this.#scoringBy[path][protocol].observe(seconds);
    this.#samples.inc(samples);
    this.#elements.inc(elements);
  }

  modelScored(tally: Tally): void {
    let model = tally.model;
    if (!this.#models.has(model)) {
      if (this.#models.size >= this.maxModels) {
        model = OTHER_MODEL;
        this.#modelOverflow.inc();
      } else {
        this.#models.add(model);
      }
    }
    // Counters only go up: a sum of losses is never negative, and a weight of 0 adds nothing.
    this.#modelLoss.labels(model).inc(Math.max(0, tally.lossNats));
    this.#modelWeight.labels(model).inc(Math.max(0, tally.weight));
    this.#modelSamples.labels(model).inc(tally.samples);
    if (tally.correct !== null) this.#modelCorrect.labels(model).inc(tally.correct);
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

import cluster, { type Worker } from 'node:cluster';
import { pino } from 'pino';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { Config } from './config.js';

/**
 * Several HTTP processes on one port (HTTP_PROCESSES > 1), with node:cluster: the primary process forks them, each
 * a whole xent (its own event loop, its own scoring pool), and hands them connections in turn (the cluster module's
 * round-robin on Linux, so that a load balancer's or a client's connections are spread evenly: with one listening
 * socket shared by all, the process that wakes first takes them all). The primary serves nothing itself: it
 * replaces a process that dies, drains them all on SIGTERM or SIGINT, and adds up their metrics.
 *
 * Messages between the primary and its processes go over the cluster's IPC channel, as plain objects.
 */
type Message =
  /** primary → process: drain and exit, as on SIGTERM. */
  | { type: 'xent:shutdown' }
  /** process → primary: the metrics of every process, please (GET /metrics). */
  | { type: 'xent:metrics-request'; id: number }
  /** primary → process: the answer to `xent:metrics-request`, Prometheus text. */
  | { type: 'xent:metrics'; id: number; text: string }
  /** primary → process: your own metrics, please. */
  | { type: 'xent:metrics-collect'; id: number }
  /** process → primary: the answer to `xent:metrics-collect`. */
  | { type: 'xent:metrics-collected'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';

/** How long the primary waits for a process's metrics before adding up those it has. */
const COLLECT_TIMEOUT_MS = 2000;
/** How long a process waits for the primary's sum. */
const METRICS_TIMEOUT_MS = 5000;

/**
 * The scoring threads of process `index` (0-based) out of `processes`: `workers` threads in all, split as evenly as
 * they go, at least one each (so with fewer threads than processes, there are more threads than asked for).
 */
export function poolShare(workers: number, processes: number, index: number): number {
  return Math.max(1, Math.floor(workers / processes) + (index < workers % processes ? 1 : 0));
}

/** Whether this process is the primary that should fork HTTP processes rather than serve. */
export function isPrimaryOfSeveral(config: Readonly<Config>): boolean {
  return config.httpProcesses > 1 && cluster.isPrimary;
}

interface Slot {
  index: number;
  worker: Worker | null;
  /** Since when the current process has been listening (0: not yet). */
  listeningSince: number;
  /** Quick deaths in a row, for the back-off before the next replacement. */
  failures: number;
}

/**
 * The primary: forks `config.httpProcesses` processes (this same script, each with `WORKERS` set to its share of
 * the threads), keeps that many running, and returns the exit code once they have all exited after a signal: 0 if
 * each drained and exited 0, else 1. A process that dies while serving is replaced (at once the first time, then
 * after a back-off while replacements keep dying within 10 s); one that dies before it ever listened at start
 * (a port in use, say) stops the service, since its siblings would die the same way.
 */
export function runPrimary(config: Readonly<Config>): Promise<number> {
  const log = pino({ level: config.logLevel }).child({ role: 'primary' });
  const count = config.httpProcesses;
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({ index, worker: null, listeningSince: 0, failures: 0 }));
  let started = false;
  let stopping = false;
  let exitCode = 0;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  const collections = new Map<number, (metrics: MetricObjectWithValues<MetricValue<string>>[]) => void>();
  let nextId = 0;

  const live = () => slots.flatMap((s) => (s.worker !== null && s.worker.isConnected() ? [s.worker] : []));
  const send = (worker: Worker, message: Message) => {
    if (worker.isConnected()) worker.send(message, () => {});
  };

  /** Every live process's metrics, added up (counters and histograms summed; see Metrics for the gauges). */
  const collect = (): Promise<string> => {
    const id = nextId++;
    const workers = live();
    const received: MetricObjectWithValues<MetricValue<string>>[][] = [];
    return new Promise<string>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        collections.delete(id);
        AggregatorRegistry.aggregate(received).metrics().then(resolve, reject);
      };
      const timer = setTimeout(settle, COLLECT_TIMEOUT_MS);
      collections.set(id, (metrics) => {
        received.push(metrics);
        if (received.length === workers.length) settle();
      });
      if (workers.length === 0) settle();
      for (const worker of workers) send(worker, { type: 'xent:metrics-collect', id });
    });
  };

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === 'xent:metrics-collected') collections.get(message.id)?.(message.metrics);
    else if (message.type === 'xent:metrics-request') {
      collect().then(
        (text) => send(worker, { type: 'xent:metrics', id: message.id, text }),
        (err: unknown) => log.error({ err }, 'adding up the metrics failed'),
      );
    }
  };

  const fork = (slot: Slot) => {
    const worker = cluster.fork({ WORKERS: String(poolShare(config.workers, count, slot.index)), XENT_HTTP_PROCESS: String(slot.index + 1) });
    slot.worker = worker;
    slot.listeningSince = 0;
    worker.on('message', (message: unknown) => onMessage(worker, message));
    worker.on('listening', () => {
      slot.listeningSince = Date.now();
      if (started) log.info({ httpProcess: slot.index + 1, httpProcessPid: worker.process.pid }, 'the new HTTP process is listening');
      else if (slots.every((s) => s.listeningSince > 0)) {
        started = true;
        log.info({ processes: count, workers: slots.map((s) => poolShare(config.workers, count, s.index)) }, 'every HTTP process is listening');
      }
    });
    worker.on('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = null;
      if (stopping) {
        if (code !== 0) exitCode = 1;
        if (slots.every((s) => s.worker === null)) finish(exitCode);
        return;
      }
      const pid = worker.process.pid;
      if (slot.listeningSince === 0 && !started) {
        log.error({ httpProcess: slot.index + 1, httpProcessPid: pid, code, signal }, 'an HTTP process exited before it could serve; stopping');
        stop(null, 1);
        return;
      }
      const quick = slot.listeningSince === 0 || Date.now() - slot.listeningSince < 10_000;
      slot.failures = quick ? slot.failures + 1 : 0;
      const delay = slot.failures <= 1 ? 0 : Math.min(30_000, 500 * 2 ** (slot.failures - 1));
      log.error({ httpProcess: slot.index + 1, httpProcessPid: pid, code, signal, restartInMs: delay }, 'an HTTP process died; starting another');
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, delay);
    });
  };

  /** Drains every process (as SIGTERM does each of them); past the shutdown bound, kills what is left. */
  const stop = (signal: NodeJS.Signals | null, code = 0) => {
    if (stopping) {
      // A second signal: do not wait any longer, as a single process does (close-with-grace).
      log.error({ signal }, 'second signal, exiting');
      for (const worker of live()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    exitCode = code;
    if (signal !== null) log.info({ signal, drainMs: config.shutdownDrainMs }, 'shutting down every HTTP process');
    for (const slot of slots) if (slot.worker !== null) send(slot.worker, { type: 'xent:shutdown' });
    if (slots.every((s) => s.worker === null)) finish(exitCode);
    const bound = config.shutdownDrainMs + config.shutdownTimeoutMs + 2000;
    setTimeout(() => {
      log.error({ boundMs: bound }, 'HTTP processes still running after the shutdown bound: killing them');
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      finish(1);
    }, bound).unref();
  };

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (const slot of slots) fork(slot);
  return done;
}

/**
 * In an HTTP process forked by the primary: runs `shutdown` when the primary asks every process to drain. A signal
 * the process receives itself (a terminal's Ctrl-C reaches the whole process group) is handled as usual; the caller
 * makes the two one shutdown.
 */
export function onShutdownRequest(shutdown: () => void): void {
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.type === 'xent:shutdown') shutdown();
  });
}

/**
 * In an HTTP process forked by the primary: what GET /metrics answers, the sum over every process, which the primary
 * adds up from each one's `registry` (it asks this process for its own over IPC, as it asks the others).
 */
export function metricsOfEveryProcess(registry: Registry): () => Promise<string> {
  const waiting = new Map<number, (text: string) => void>();
  let nextId = 0;
  const send = (message: Message) => process.send?.(message, undefined, undefined, () => {});
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === 'xent:metrics') waiting.get(message.id)?.(message.text);
    else if (message.type === 'xent:metrics-collect') {
      const reply = (metrics: MetricObjectWithValues<MetricValue<string>>[]) => send({ type: 'xent:metrics-collected', id: message.id, metrics });
      registry.getMetricsAsJSON().then(reply, () => reply([]));
    }
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary process did not add up the metrics within ${METRICS_TIMEOUT_MS} ms`));
      }, METRICS_TIMEOUT_MS);
      waiting.set(id, (text) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(text);
      });
      send({ type: 'xent:metrics-request', id });
    });
}

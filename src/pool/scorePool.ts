import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import type { BodyOutcome } from '../codec/body.js';
import type { PoolJob } from './dispatch.js';

export interface ScorePoolOptions {
  workers: number;
  maxQueue: number;
  /** Old-generation heap limit of each worker; a worker past it dies alone and is replaced. */
  workerMemoryMb: number;
  /** Linux nice value (0-19) of the worker threads: above 0, the event loop wins the CPU over scoring. */
  workerNice?: number;
  /** The worker module (a path or file URL); only tests pass another (a fault injector). Not reachable from HTTP or the environment. */
  filename?: string;
}

/**
 * Workers are compiled JavaScript: when this module runs from TypeScript sources (tests), use the build's files
 * (test/globalSetup.ts rebuilds them before every test run when the sources changed, so they are never stale).
 */
function built(file: string): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL(`../../dist/pool/${file}`, here) : new URL(`./${file}`, here);
}

/**
 * Piscina loads the CommonJS entry, which import()s the ES module of the handler: piscina's own require() of an ES
 * module can abort the whole process when a worker is terminated while loading it (see entry.cts).
 */
function workerFiles(module: string | undefined): { filename: string; module: string } {
  const moduleUrl = module === undefined ? built('worker.js').href : module.startsWith('file:') ? module : pathToFileURL(module).href;
  return { filename: built('entry.cjs').href, module: moduleUrl };
}

/** Why a job could not be run; the dispatch answers each with its 503. */
export class PoolUnavailableError extends Error {
  constructor(
    readonly reason: 'queue-full' | 'closed' | 'worker-failed' | 'aborted',
    options?: ErrorOptions,
  ) {
    super(`scoring pool unavailable: ${reason}`, options);
    this.name = 'PoolUnavailableError';
  }
}

/**
 * A bounded pool of worker threads that score request bodies (`scoreBody`, the same function as the inline path).
 * Jobs beyond `maxQueue` waiting ones are refused at once rather than queued without bound. The body's bytes are
 * moved to the worker when they own their buffer, and the answer's bytes are moved back.
 */
export class ScorePool {
  readonly #pool: Piscina;
  readonly #capacity: number;
  readonly #workers: number;
  /** Jobs submitted and not yet settled, running or waiting. */
  #pending = 0;
  #closed = false;

  constructor(options: ScorePoolOptions) {
    this.#workers = options.workers;
    this.#capacity = options.workers + options.maxQueue;
    const { filename, module } = workerFiles(options.filename);
    this.#pool = new Piscina({
      filename,
      minThreads: options.workers,
      maxThreads: options.workers,
      maxQueue: Math.max(1, options.maxQueue),
      idleTimeout: 60_000,
      // Idle workers wait for jobs on their event loop, not blocked in Atomics.wait: on Node 24 a worker terminated
      // while it import()s its module can be left running (the termination is spent before the worker stops), and
      // one blocked in Atomics.wait then never exits, so close() never ends. Back on its event loop, it stops.
      atomics: 'disabled',
      resourceLimits: { maxOldGenerationSizeMb: options.workerMemoryMb },
      workerData: { nice: options.workerNice ?? 0, module },
    });
    // A worker that dies (exit, out of memory) fails only its own job, which is answered 503; piscina starts another.
    this.#pool.on('error', () => {});
  }

  /**
   * Scores a body in a worker. Bytes on a SharedArrayBuffer are read there in place; others are moved there when they
   * own their buffer (the caller must not reuse them), else copied.
   */
  async run(job: PoolJob, signal?: AbortSignal): Promise<BodyOutcome<Uint8Array>> {
    if (this.#closed) throw new PoolUnavailableError('closed');
    // The bound is kept here rather than by piscina's maxQueue, which does not count tasks that carry an AbortSignal.
    if (this.#pending >= this.#capacity) throw new PoolUnavailableError('queue-full');
    const { bytes } = job;
    const shared = bytes.buffer instanceof SharedArrayBuffer;
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    // A copy, not `bytes.slice()`: on a Buffer that is a view, and moving its buffer would take Node's shared pool.
    const sent = shared || owned ? job : { ...job, bytes: new Uint8Array(bytes) };
    this.#pending++;
    try {
      return (await this.#pool.run(sent, {
        transferList: shared ? [] : [sent.bytes.buffer as ArrayBuffer],
        ...(signal === undefined ? {} : { signal }),
      })) as BodyOutcome<Uint8Array>;
    } catch (err) {
      if (err instanceof Error && err.message === 'Task queue is at limit') throw new PoolUnavailableError('queue-full', { cause: err });
      if (err instanceof Error && err.name === 'AbortError') throw new PoolUnavailableError('aborted', { cause: err });
      if (this.#closed) throw new PoolUnavailableError('closed', { cause: err });
      throw new PoolUnavailableError('worker-failed', { cause: err });
    } finally {
      this.#pending--;
    }
  }

  /** Jobs submitted and not yet settled: running or waiting. */
  get pending(): number {
    return this.#pending;
  }

  /** Jobs waiting for a worker. */
  get queueSize(): number {
    return Math.max(0, this.#pending - this.#workers);
  }

  /** Whether a new job would be refused for want of room. */
  get full(): boolean {
    return this.#pending >= this.#capacity;
  }

  get utilization(): number {
    return this.#pool.utilization;
  }

  get threads(): number {
    return this.#pool.threads.length;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }
}

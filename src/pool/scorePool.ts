import { Piscina } from 'piscina';
import type { JsonScoreJob, JsonScoreOutcome } from '../http/jsonBody.js';
import type { Evaluation, ScoreTask } from '../kernel/types.js';

export interface ScorePoolOptions {
  workers: number;
  maxQueue: number;
  /** Old-generation heap limit of each worker; a worker past it dies alone and is replaced. */
  workerMemoryMb: number;
  /** Linux nice value (0-19) of the worker threads: above 0, the event loop wins the CPU over scoring. */
  workerNice?: number;
  /** The worker module; only tests pass another (a fault injector). Not reachable from HTTP or the environment. */
  filename?: string;
}

/** Workers are compiled JavaScript: when this module runs from TypeScript sources (tests), use the build's worker. */
function workerFile(): string {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/pool/worker.js', here).href : new URL('./worker.js', here).href;
}

/** Why a task could not be run; mapped to a 503 by the HTTP layer. */
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
 * A bounded pool of worker threads that run the kernel's `evaluate`. Tasks beyond `maxQueue` waiting ones are
 * refused at once rather than queued without bound. The task's typed arrays are moved to the worker (the caller
 * must not touch them afterwards) and the losses are moved back.
 */
export class ScorePool {
  readonly #pool: Piscina;
  readonly #capacity: number;
  readonly #workers: number;
  /** Tasks submitted and not yet settled, running or waiting. */
  #pending = 0;
  #closed = false;

  constructor(options: ScorePoolOptions) {
    this.#workers = options.workers;
    this.#capacity = options.workers + options.maxQueue;
    this.#pool = new Piscina({
      filename: options.filename ?? workerFile(),
      minThreads: options.workers,
      maxThreads: options.workers,
      maxQueue: Math.max(1, options.maxQueue),
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: options.workerMemoryMb },
      workerData: { nice: options.workerNice ?? 0 },
    });
    // A worker that dies (exit, out of memory) fails only its own task, which is answered 503; piscina starts another.
    this.#pool.on('error', () => {});
  }

  /** Evaluates a decoded task in a worker; its typed arrays are moved there. */
  async run(task: ScoreTask, signal?: AbortSignal): Promise<Evaluation> {
    const transferList: ArrayBuffer[] = [task.input.buffer as ArrayBuffer];
    for (const a of [task.labels, task.targets, task.classWeights]) if (a !== null) transferList.push(a.buffer as ArrayBuffer);
    return (await this.#submit(task, 'default', transferList, signal)) as Evaluation;
  }

  /** Parses, validates and scores a raw JSON body in a worker; the bytes are moved there when they own their buffer. */
  async runJson(job: JsonScoreJob, signal?: AbortSignal): Promise<JsonScoreOutcome<Uint8Array>> {
    const { bytes } = job;
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const sent = owned ? job : { ...job, bytes: bytes.slice() };
    return (await this.#submit(sent, 'scoreJson', [sent.bytes.buffer as ArrayBuffer], signal)) as JsonScoreOutcome<Uint8Array>;
  }

  async #submit(task: unknown, name: string, transferList: ArrayBuffer[], signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) throw new PoolUnavailableError('closed');
    // The bound is kept here rather than by piscina's maxQueue, which does not count tasks that carry an AbortSignal.
    if (this.#pending >= this.#capacity) throw new PoolUnavailableError('queue-full');
    this.#pending++;
    try {
      return await this.#pool.run(task, { name, transferList, ...(signal === undefined ? {} : { signal }) });
    } catch (err) {
      if (err instanceof Error && err.message === 'Task queue is at limit') throw new PoolUnavailableError('queue-full', { cause: err });
      if (err instanceof Error && err.name === 'AbortError') throw new PoolUnavailableError('aborted', { cause: err });
      if (this.#closed) throw new PoolUnavailableError('closed', { cause: err });
      throw new PoolUnavailableError('worker-failed', { cause: err });
    } finally {
      this.#pending--;
    }
  }

  /** Tasks waiting for a worker. */
  get queueSize(): number {
    return Math.max(0, this.#pending - this.#workers);
  }

  /** Whether a new task would be refused for want of room. */
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

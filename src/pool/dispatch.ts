import { scoreBody, type BodyJob, type BodyOutcome, type Tally } from '../codec/body.js';
import { ProblemError, type Issue } from '../codec/problems.js';
import type { ContentEncoding } from './contentEncoding.js';
import { PoolUnavailableError, type ScorePool } from './scorePool.js';
import type { SharedBodies } from './sharedBodies.js';

/**
 * A body as received, with its Content-Encoding: compressed bodies are inflated where they are scored, in a worker,
 * never on the event loop, within `maxBodyBytes` after inflating too.
 */
export type PoolJob = BodyJob & { contentEncoding?: ContentEncoding; maxBodyBytes?: number };

/** Where a body was scored. */
export type ScoringPath = 'inline' | 'worker';

/** What the dispatch reports as it goes (the HTTP layer's metrics implement it). */
export interface ScoringObserver {
  scored(path: ScoringPath, protocol: BodyJob['protocol'], seconds: number, samples: number, elements: number): void;
  /** A scored request that named its model. A stream's lines are counted by the stream, once it has its answer. */
  modelScored(tally: Tally): void;
  workerFailed(): void;
}

export interface DispatchOptions {
  /** Bodies up to this many bytes are scored on the event loop; larger ones in a worker. */
  inlineMaxBytes: number;
  /** A job still unanswered after this long is abandoned with a 503 (0 = no limit). */
  requestTimeoutMs: number;
  /** Where large bodies are read (http/bodyReader): a body on one of these buffers is given back once scored. */
  sharedBodies?: SharedBodies;
}

/** A scored body: the answer's bytes or text and how to send it. */
export type Scored = Extract<BodyOutcome, { ok: true }>;

/**
 * Scores every body where it is cheapest: a small one on the event loop (a worker round trip costs more than its
 * parsing and arithmetic), a large or compressed one in the pool as raw bytes, so that the event loop never inflates,
 * parses or scores it, bounded by REQUEST_TIMEOUT_MS. Both paths run the same `scoreBody`, so answers and problems are identical byte for
 * byte. A refused body is thrown as its ProblemError, and so is a job the pool cannot run (503 with Retry-After).
 * Small bodies are answered synchronously: no promise, no extra tick on the hot path.
 */
export class Dispatcher {
  constructor(
    readonly pool: ScorePool,
    readonly options: DispatchOptions,
    readonly observer: ScoringObserver,
  ) {}

  score(job: PoolJob): Scored | Promise<Scored> {
    const compressed = job.contentEncoding !== undefined && job.contentEncoding !== 'identity';
    if (job.bytes.length <= this.options.inlineMaxBytes && !compressed) return this.#inline(job);
    return this.#inWorker(job);
  }

  #inline(job: BodyJob): Scored {
    const start = performance.now();
    const outcome = scoreBody(job);
    if (!outcome.ok) throw new ProblemError(outcome.issues);
    this.#observe('inline', job, start, outcome);
    return outcome;
  }

  #observe(path: ScoringPath, job: BodyJob, start: number, outcome: Pick<Scored, 'samples' | 'elements' | 'tally'>): void {
    this.observer.scored(path, job.protocol, (performance.now() - start) / 1000, outcome.samples, outcome.elements);
    // A line's tally is its stream's to count, with the others, when the whole stream has been accepted: nothing of a
    // refused stream reaches the model counters.
    if (outcome.tally !== null && job.protocol !== 'line') this.observer.modelScored(outcome.tally);
  }

  async #inWorker(job: PoolJob): Promise<Scored> {
    const start = performance.now();
    const { requestTimeoutMs } = this.options;
    let outcome: BodyOutcome<Uint8Array>;
    try {
      outcome = await this.pool.run(job, requestTimeoutMs > 0 ? AbortSignal.timeout(requestTimeoutMs) : undefined);
    } catch (err) {
      if (!(err instanceof PoolUnavailableError)) throw err;
      if (err.reason === 'worker-failed') this.observer.workerFailed();
      throw problemOf(err);
    } finally {
      // The worker is done with the body (or was stopped; a stopped one only ever read it): its buffer may be reused.
      this.options.sharedBodies?.release(job.bytes);
    }
    if (!outcome.ok) throw new ProblemError(outcome.issues);
    this.#observe('worker', job, start, outcome);
    return outcome;
  }
}

const RETRY = { 'retry-after': '1' };

/** Each reason the pool could not run a job, as the 503 that tells the client to retry. */
export function problemOf(err: PoolUnavailableError): ProblemError {
  const [code, detail]: [Issue['code'], string] =
    err.reason === 'queue-full'
      ? ['XENT_OVERLOADED', 'every worker is busy and the queue is full']
      : err.reason === 'aborted'
        ? ['XENT_TIMEOUT', 'the request exceeded REQUEST_TIMEOUT_MS']
        : err.reason === 'closed'
          ? ['XENT_SHUTTING_DOWN', 'the service is shutting down']
          : ['XENT_WORKER_FAILED', 'the worker thread scoring this request failed and was replaced'];
  return new ProblemError([{ code, pointer: '', detail }], RETRY);
}

import type { Config } from '../config.js';
import { evaluate } from '../kernel/evaluate.js';
import type { Evaluation, ScoreTask } from '../kernel/types.js';
import { PoolUnavailableError, type ScorePool } from '../pool/scorePool.js';
import { ProblemError } from './errors.js';
import { scoreJsonBody, type JsonScoreJob } from './jsonBody.js';
import type { Metrics } from './metrics.js';

export interface Scorer {
  config: Readonly<Config>;
  pool: ScorePool;
  metrics: Metrics;
}

/**
 * Evaluates a task where it is cheapest: small tasks on the event loop (a worker round trip costs more than their
 * arithmetic), larger ones in the pool, bounded by REQUEST_TIMEOUT_MS. Both run the same `evaluate`.
 * The task's typed arrays may be moved to a worker: the caller must not use them afterwards.
 */
export async function scoreTask(task: ScoreTask, { config, pool, metrics }: Scorer): Promise<Evaluation> {
  const { rows, input } = task;
  const elements = input.length;
  const start = performance.now();
  if (elements <= config.inlineMaxElements) {
    const evaluation = evaluate(task);
    const scored = evaluation.status === 'ok';
    metrics.observeScoring('inline', (performance.now() - start) / 1000, scored ? rows : 0, scored ? elements : 0);
    return evaluation;
  }
  const evaluation = await countingFailures(metrics, pool.run(task, timeoutSignal(config)));
  const scored = evaluation.status === 'ok';
  metrics.observeScoring('worker', (performance.now() - start) / 1000, scored ? rows : 0, scored ? elements : 0);
  return evaluation;
}

/** Parses, validates and scores a small raw JSON body on the event loop; the response text, or a ProblemError. */
export function scoreJsonInline(job: JsonScoreJob, { metrics }: Scorer): string {
  const start = performance.now();
  const outcome = scoreJsonBody(job);
  if (!outcome.ok) throw new ProblemError(outcome.issues);
  metrics.observeScoring('inline', (performance.now() - start) / 1000, outcome.samples, outcome.elements);
  return outcome.body;
}

/** Parses, validates and scores a raw JSON body in a worker; the response bytes, or a ProblemError. */
export async function scoreJsonInWorker(job: JsonScoreJob, { config, pool, metrics }: Scorer): Promise<Uint8Array> {
  const start = performance.now();
  const outcome = await countingFailures(metrics, pool.runJson(job, timeoutSignal(config)));
  if (!outcome.ok) throw new ProblemError(outcome.issues);
  metrics.observeScoring('worker-json', (performance.now() - start) / 1000, outcome.samples, outcome.elements);
  return outcome.body;
}

async function countingFailures<T>(metrics: Metrics, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof PoolUnavailableError && err.reason === 'worker-failed') metrics.workerFailed();
    throw err;
  }
}

/** An AbortSignal firing after REQUEST_TIMEOUT_MS, or none when there is no limit. */
export function timeoutSignal(config: Readonly<Config>): AbortSignal | undefined {
  return config.requestTimeoutMs > 0 ? AbortSignal.timeout(config.requestTimeoutMs) : undefined;
}

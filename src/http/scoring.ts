import type { Config } from '../config.js';
import { evaluate } from '../kernel/evaluate.js';
import type { Evaluation, ScoreTask } from '../kernel/types.js';
import type { ScorePool } from '../pool/scorePool.js';

export interface Scorer {
  config: Readonly<Config>;
  pool: ScorePool;
}

/**
 * Evaluates a task where it is cheapest: small tasks on the event loop (a worker round trip costs more than their
 * arithmetic), larger ones in the pool, bounded by REQUEST_TIMEOUT_MS. Both run the same `evaluate`.
 * The task's typed arrays may be moved to a worker: the caller must not use them afterwards.
 */
export async function scoreTask(task: ScoreTask, { config, pool }: Scorer): Promise<Evaluation> {
  if (task.input.length <= config.inlineMaxElements) return evaluate(task);
  return pool.run(task, timeoutSignal(config));
}

/** An AbortSignal firing after REQUEST_TIMEOUT_MS, or none when there is no limit. */
export function timeoutSignal(config: Readonly<Config>): AbortSignal | undefined {
  return config.requestTimeoutMs > 0 ? AbortSignal.timeout(config.requestTimeoutMs) : undefined;
}

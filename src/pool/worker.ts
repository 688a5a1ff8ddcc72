import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { scoreJsonBody, type JsonScoreJob, type JsonScoreOutcome } from '../http/jsonBody.js';
import { evaluate } from '../kernel/evaluate.js';
import type { Evaluation, ScoreTask } from '../kernel/types.js';

/**
 * Scoring threads run at a lower CPU priority than the event loop (Linux: setpriority on the thread's own id, which
 * affects that thread only), so that probes, small requests and the moving of buffers are not queued behind large
 * batches when every core is busy. Best effort: elsewhere, or if refused, the thread keeps the default priority.
 */
function lowerPriority(nice: number): void {
  if (nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not Linux, or not allowed: keep the default priority
  }
}
lowerPriority(Number((workerData as { nice?: unknown } | undefined)?.nice ?? 0));

/** Wraps a result so that piscina moves `buffer` back to the main thread instead of copying it. */
function moving<T extends object>(value: T, buffer: ArrayBufferLike): T {
  return move({
    get [transferableSymbol]() {
      return [buffer];
    },
    get [valueSymbol]() {
      return value;
    },
  }) as unknown as T;
}

/** Pool entry point for decoded tasks: the same `evaluate` as the inline path. */
export default function scoreInWorker(task: ScoreTask): Evaluation {
  const evaluation = evaluate(task);
  return evaluation.status === 'ok' ? moving(evaluation, evaluation.summary.losses.buffer) : evaluation;
}

const encoder = new TextEncoder();

/** Pool entry point for raw JSON bodies: parse, validate, score and serialise (to UTF-8 bytes), off the event loop. */
export function scoreJson(job: JsonScoreJob): JsonScoreOutcome<Uint8Array> {
  const outcome = scoreJsonBody(job);
  if (!outcome.ok) return outcome;
  const body = encoder.encode(outcome.body);
  return moving({ ...outcome, body }, body.buffer);
}

import { move, transferableSymbol, valueSymbol } from 'piscina';
import { scoreJsonBody, type JsonScoreJob, type JsonScoreOutcome } from '../http/jsonBody.js';
import { evaluate } from '../kernel/evaluate.js';
import type { Evaluation, ScoreTask } from '../kernel/types.js';

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

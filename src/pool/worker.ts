import { move, transferableSymbol, valueSymbol } from 'piscina';
import { evaluate } from '../kernel/evaluate.js';
import type { Evaluation, ScoreTask } from '../kernel/types.js';

/** Pool entry point: the same `evaluate` as the inline path; the losses' buffer is moved back, not copied. */
export default function scoreInWorker(task: ScoreTask): Evaluation {
  const evaluation = evaluate(task);
  if (evaluation.status !== 'ok') return evaluation;
  const losses = evaluation.summary.losses;
  return move({
    get [transferableSymbol]() {
      return [losses.buffer];
    },
    get [valueSymbol]() {
      return evaluation;
    },
  }) as unknown as Evaluation;
}

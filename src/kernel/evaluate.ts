import { crossEntropyRows } from './crossEntropy.js';
import { summarize } from './summary.js';
import type { Evaluation, ScoreTask } from './types.js';
import { findInputProblems } from './validate.js';

/**
 * Validates and scores one task: the single entry point shared by the inline path and the worker threads, so both
 * give bit-identical results and identical errors.
 */
export function evaluate(task: ScoreTask): Evaluation {
  const problems = findInputProblems(task);
  if (problems.length > 0) return { status: 'invalid', problems };
  const rows = crossEntropyRows(task);
  if (rows.nonFiniteRow >= 0) return { status: 'not-finite', row: rows.nonFiniteRow };
  if (task.unit === 'bits') {
    // A loss just below the float64 maximum in nats is above it in bits.
    const row = rows.losses.findIndex((x) => !Number.isFinite(x / Math.LN2));
    if (row >= 0) return { status: 'not-finite', row };
  }
  const summary = summarize(rows, task.unit);
  if (summary === null) return { status: 'not-finite', row: -1 };
  return { status: 'ok', summary };
}

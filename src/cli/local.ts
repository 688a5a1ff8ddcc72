import type { BodyLimits } from '../codec/body.js';
import { DatasetScorer, type DatasetResult } from './dataset.js';
import { InputError, type Input } from './inputs.js';
import { isBlank, ndjsonLines } from '../codec/ndjson.js';
import type { ProgressFigures, ProgressReporter } from './progress.js';

export interface LocalOptions {
  limits: BodyLimits;
  maxLineBytes: number;
  progress: ProgressReporter;
  /** Told the unit once the first line has been scored. */
  scorer?: DatasetScorer;
}

/** Progress is refreshed at most this often (the reporters pace their own output further). */
const REFRESH_MS = 100;

/**
 * Scores the inputs in this process as one dataset, file after file, line by line: each line's exact state merged
 * into the dataset's (DatasetScorer). Throws an InputError naming the file and line of the first refused line.
 */
export async function scoreLocally(inputs: Input[], options: LocalOptions): Promise<DatasetResult> {
  const scorer = options.scorer ?? new DatasetScorer(options.limits);
  let bytes = 0;
  const figures = (): ProgressFigures => ({ lines: scorer.lines, samples: scorer.samples, bytes, cost: scorer.cost });
  let last = performance.now();
  try {
    for (const input of inputs) {
      try {
        for await (const { bytes: line, line: number } of ndjsonLines(input.open(), options.maxLineBytes, '--max-line-bytes', (n) => (bytes += n))) {
          if (isBlank(line)) continue;
          scorer.add(line, number);
          const now = performance.now();
          if (now - last >= REFRESH_MS) {
            last = now;
            options.progress.update(figures());
          }
        }
      } catch (err) {
        throw InputError.of(err, input.name);
      }
    }
    let result: DatasetResult;
    try {
      result = scorer.result();
    } catch (err) {
      throw InputError.of(err, inputs.length === 1 ? inputs[0]!.name : null);
    }
    options.progress.stop(figures(), true);
    return result;
  } catch (err) {
    options.progress.stop(figures(), false);
    throw err;
  }
}

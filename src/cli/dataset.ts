import { scoreBody, type BodyLimits } from '../codec/body.js';
import { costFigures } from '../codec/figures.js';
import { ProblemError, type Issue } from '../codec/problems.js';
import { figuresOfState, mergeStates, type ScoreState, type StateOptions } from '../codec/state.js';

/** The figures of a dataset, as POST /cost/stream answers them: /cost's, the diagnostics', and `state` if included. */
export type DatasetResult = Record<string, unknown>;

/**
 * A dataset scored line by line in this process, with the service's own codec and kernel: each line is a /cost
 * request, scored to its exact state (`scoreBody` with the 'line' protocol, as POST /cost/stream scores its lines),
 * and the states are merged exactly. Every line must have the options of the first. A refused line throws its
 * ProblemError with the line's number and adds nothing.
 */
export class DatasetScorer {
  #state: ScoreState | null = null;
  #options = '';
  lines = 0;
  samples = 0;

  constructor(readonly limits: BodyLimits) {}

  /** Scores one line (a /cost request) and merges its state. */
  add(bytes: Uint8Array, line: number): void {
    const outcome = scoreBody({ protocol: 'line', bytes, limits: this.limits });
    if (!outcome.ok) throw new ProblemError(outcome.issues).inLine(line);
    const state = JSON.parse(outcome.body as string) as ScoreState;
    const options = JSON.stringify(state.options);
    if (this.#state === null) {
      this.#state = state;
      this.#options = options;
    } else {
      if (options !== this.#options) throw mismatch(this.#state.options, state.options, line);
      this.#state = mergeStates([this.#state, state]);
    }
    this.lines++;
    this.samples += outcome.samples;
  }

  /** The cost so far (null before the first line, or with no weight counted yet). */
  get cost(): number | null {
    return this.#state === null ? null : (figuresOfState(this.#state)?.summary.cost ?? null);
  }

  /** The unit of the figures (that of the first line). */
  get unit(): string {
    return this.#state?.options.unit ?? 'nats';
  }

  /** The dataset's figures; a problem if it held no request or its sum left the float64 range. */
  result(): DatasetResult {
    if (this.#state === null) throw ProblemError.of('XENT_INVALID_BODY', '', 'the input holds no request: one /cost request a line');
    return resultOf(this.#state);
  }
}

/** The answer for a merged state, member for member as POST /cost/stream gives it. */
export function resultOf(state: ScoreState): DatasetResult {
  const figures = figuresOfState(state);
  if (figures === null) throw ProblemError.of('XENT_NON_FINITE_RESULT', '', 'the sum of the losses exceeds the float64 range');
  return {
    ...costFigures(figures.summary),
    ...(figures.diagnostics ?? {}),
    ...(figures.sequences ?? {}),
    ...(state.options.include.includes('state') ? { state } : {}),
  };
}

/** A line whose options differ from the first line's, named as POST /cost/stream names it. */
function mismatch(first: StateOptions, other: StateOptions, line: number): ProblemError {
  const key = (Object.keys(other) as (keyof StateOptions)[]).find((k) => JSON.stringify(other[k]) !== JSON.stringify(first[k]));
  const issue: Issue = {
    code: 'XENT_STATE_MISMATCH',
    pointer: key === undefined ? '' : `/${key}`,
    detail:
      key === undefined
        ? `line ${line} differs from the first line in its options: every line must have the options of the first`
        : `line ${line} differs from the first line in ${key} (${JSON.stringify(other[key])}, not ${JSON.stringify(first[key])}): every line must have the options of the first`,
  };
  return new ProblemError([issue]).inLine(line);
}

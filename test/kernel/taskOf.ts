import type { ScoreTask } from '../../src/kernel/types.js';
import type { ReferenceRequest } from '../reference/highPrecision.mjs';

/** A kernel task from rows of numbers, for tests. */
export function taskOf(r: ReferenceRequest & { unit?: 'nats' | 'bits' }): ScoreTask {
  const classes = r.input[0]!.length;
  return {
    kind: r.kind,
    rows: r.input.length,
    classes,
    input: Float64Array.from(r.input.flat()),
    labels: r.labels === undefined ? null : Float64Array.from(r.labels),
    targets: r.targets === undefined ? null : Float64Array.from(r.targets.flat()),
    classWeights: r.classWeights === undefined ? null : Float64Array.from(r.classWeights),
    sampleWeights: r.sampleWeights === undefined ? null : Float64Array.from(r.sampleWeights),
    renormalize: r.renormalize ?? false,
    mask: null,
    ignoreIndex: r.ignoreIndex ?? -100,
    labelSmoothing: r.labelSmoothing ?? 0,
    epsilon: r.epsilon ?? 0,
    unit: r.unit ?? 'nats',
  };
}

/** The rows [from, to) of a request as a request of their own. */
export function sliceRows(r: ReferenceRequest, from: number, to: number): ReferenceRequest {
  return {
    ...r,
    input: r.input.slice(from, to),
    ...(r.labels === undefined ? {} : { labels: r.labels.slice(from, to) }),
    ...(r.targets === undefined ? {} : { targets: r.targets.slice(from, to) }),
  };
}

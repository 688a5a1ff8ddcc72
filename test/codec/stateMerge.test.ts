/**
 * mergeStates on states whose counts are each valid but whose sums are not exact any more (beyond 2^53 - 1): a 400
 * naming the state that crossed the line, never a count the service cannot write exactly or read back.
 */
import { describe, expect, it } from 'vitest';
import { scoreBody } from '../../src/codec/body.js';
import { ProblemError } from '../../src/codec/problems.js';
import { mergeStates, type ScoreState } from '../../src/codec/state.js';

function stateOf(request: unknown): ScoreState {
  const outcome = scoreBody({ protocol: 'line', bytes: Buffer.from(JSON.stringify(request)), limits: { maxElements: 1000 } });
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.issues));
  return JSON.parse(outcome.body as string) as ScoreState;
}

function refusal(states: unknown[]): { code: string; pointer: string } {
  try {
    mergeStates(states);
  } catch (err) {
    if (err instanceof ProblemError) return { code: err.code, pointer: err.issues[0]!.pointer };
    throw err;
  }
  throw new Error('merged');
}

describe('mergeStates - counts beyond 2^53 - 1', () => {
  const state = stateOf({ logits: [[0, 0]], labels: [0], include: ['top_k', 'calibration'] });
  const huge = (edit: (s: ScoreState) => void) => {
    const s = structuredClone(state);
    edit(s);
    return s;
  };

  it('states whose samples add up past 2^53 - 1 - 400 XENT_INVALID_STATE at the state that crossed it', () => {
    const big = huge((s) => {
      s.loss.count = Number.MAX_SAFE_INTEGER - 1;
      s.loss.correct = 0;
    });
    expect(refusal([big, big])).toEqual({ code: 'XENT_INVALID_STATE', pointer: '/states/1' });
    expect(refusal([big, state, state])).toEqual({ code: 'XENT_INVALID_STATE', pointer: '/states/2' });
  });

  it('a diagnostics count past it - refused the same way', () => {
    const big = huge((s) => {
      s.diagnostics!.count = Number.MAX_SAFE_INTEGER;
      s.diagnostics!.topK = s.diagnostics!.topK!.map((t) => ({ ...t, hits: 0 }));
    });
    expect(refusal([big, big])).toEqual({ code: 'XENT_INVALID_STATE', pointer: '/states/1' });
  });

  it('counts up to 2^53 - 1 exactly - merged', () => {
    const big = huge((s) => {
      s.loss.count = Number.MAX_SAFE_INTEGER - 1;
      s.loss.correct = 0;
    });
    expect(mergeStates([state, big]).loss.count).toBe(Number.MAX_SAFE_INTEGER);
  });
});

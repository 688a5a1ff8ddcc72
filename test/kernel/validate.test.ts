import { describe, expect, it } from 'vitest';
import { findInputProblems } from '../../src/kernel/validate.js';
import { taskOf } from './taskOf.js';

describe('findInputProblems - logits', () => {
  // The check first asks whether every logit is finite (four sums at a time, then the rest): a bad value at any
  // place, in any shape, must still be found where it is.
  it('one NaN, +Infinity or -Infinity at every place of tensors of 1 to 11 numbers - found at its index', () => {
    for (let rows = 1; rows <= 3; rows++) {
      for (let classes = 1; classes <= 4; classes++) {
        const n = rows * classes;
        for (let at = 0; at < n; at++) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const flat = Array.from({ length: n }, (_, i) => (i === at ? bad : i - 2.5));
            const input = Array.from({ length: rows }, (_, r) => flat.slice(r * classes, (r + 1) * classes));
            const problems = findInputProblems(taskOf({ kind: 'logits', input, labels: Array.from({ length: rows }, () => -100) }));
            if (bad === -Infinity) {
              // A masked class: legal unless it is the row's only class.
              expect(problems).toEqual(classes === 1 ? [{ kind: 'ROW_ALL_MASKED', field: 'input', index: at, value: -Infinity }] : []);
            } else {
              expect(problems).toEqual([{ kind: 'NOT_FINITE', field: 'input', index: at, value: bad }]);
            }
          }
        }
      }
    }
  });

  it('finite logits as large as a double goes - no problem', () => {
    const input = [[Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, -0, 0]];
    expect(findInputProblems(taskOf({ kind: 'logits', input, labels: [0] }))).toEqual([]);
  });
});

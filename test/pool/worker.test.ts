import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../src/kernel/evaluate.js';
import type { Evaluation, ScoreTask } from '../../src/kernel/types.js';
import { PoolUnavailableError, ScorePool } from '../../src/pool/scorePool.js';
import { taskOf } from '../kernel/taskOf.js';

let pool: ScorePool;
beforeAll(() => {
  pool = new ScorePool({ workers: 2, maxQueue: 16, workerMemoryMb: 512 });
});
afterAll(() => pool.close());

function copy(task: ScoreTask): ScoreTask {
  return {
    ...task,
    input: task.input.slice(),
    labels: task.labels?.slice() ?? null,
    targets: task.targets?.slice() ?? null,
    classWeights: task.classWeights?.slice() ?? null,
  };
}

/** Bit-level comparison: Object.is on every float, so even −0 versus 0 would show. */
function expectIdentical(a: Evaluation, b: Evaluation): void {
  expect(b.status).toBe(a.status);
  if (a.status === 'ok' && b.status === 'ok') {
    expect(new Uint8Array(b.summary.losses.buffer)).toEqual(new Uint8Array(a.summary.losses.buffer));
    for (const k of ['sum', 'cost', 'count', 'totalWeight', 'perplexity', 'accuracy', 'unit'] as const) {
      expect(Object.is(b.summary[k], a.summary[k]), k).toBe(true);
    }
  } else {
    expect(b).toEqual(a);
  }
}

describe('ScorePool', () => {
  it('gives bit-identical results to a direct call on random tasks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer(),
        fc.constantFrom<'nats' | 'bits'>('nats', 'bits'),
        async (rows, classes, seed, unit) => {
          let s = seed >>> 0 || 1;
          const random = () => ((s = (s * 48271) % 2147483647) / 2147483647) * 40 - 20;
          const task = taskOf({
            kind: 'logits',
            input: Array.from({ length: rows }, () => Array.from({ length: classes }, random)),
            labels: Array.from({ length: rows }, (_, i) => (i % 5 === 4 ? -100 : Math.floor(Math.abs(random()) * classes) % classes)),
            labelSmoothing: 0.1,
            classWeights: Array.from({ length: classes }, () => Math.abs(random())),
            unit,
          });
          const direct = evaluate(copy(task));
          const viaPool = await pool.run(task);
          expectIdentical(direct, viaPool);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('moves the input buffers to the worker instead of copying them', async () => {
    const task = taskOf({ kind: 'logits', input: [[0, 1]], labels: [0] });
    const pending = pool.run(task);
    expect(task.input.byteLength).toBe(0); // detached: transferred
    expect((await pending).status).toBe('ok');
  });

  it('reports input problems and non-finite results the same way as a direct call', async () => {
    for (const task of [
      taskOf({ kind: 'probabilities', input: [[0.5, 0.7]], labels: [0] }),
      taskOf({ kind: 'probabilities', input: [[1, 0]], labels: [1] }),
    ]) {
      expectIdentical(evaluate(copy(task)), await pool.run(task));
    }
  });

  it('refuses work once closed', async () => {
    const closed = new ScorePool({ workers: 1, maxQueue: 1, workerMemoryMb: 512 });
    await closed.close();
    await expect(closed.run(taskOf({ kind: 'logits', input: [[0, 1]], labels: [0] }))).rejects.toBeInstanceOf(PoolUnavailableError);
  });
});

describe.runIf(process.platform === 'linux')('worker priority (WORKER_NICE)', () => {
  /** Nice values of this process's threads, from /proc (field 19 of each thread's stat). */
  function threadNices(): number[] {
    return readdirSync('/proc/self/task').flatMap((tid) => {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
      } catch {
        return []; // the thread ended meanwhile
      }
    });
  }

  it('runs exactly the pool\'s threads at the configured nice value, and scores the same there', async () => {
    const before = threadNices().filter((n) => n === 7).length;
    const niced = new ScorePool({ workers: 2, maxQueue: 4, workerMemoryMb: 512, workerNice: 7 });
    try {
      const task = taskOf({ kind: 'logits', input: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] });
      const expected = evaluate(copy(task));
      // Both threads busy at once, so both have started (and set their priority).
      const results = await Promise.all([niced.run(copy(task)), niced.run(copy(task))]);
      for (const r of results) expectIdentical(expected, r);
      expect(threadNices().filter((n) => n === 7).length - before).toBe(2);
    } finally {
      await niced.close();
    }
  });
});

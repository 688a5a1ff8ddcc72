import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreBody, type BodyJob, type BodyOutcome } from '../../src/codec/body.js';
import { PoolUnavailableError, ScorePool } from '../../src/pool/scorePool.js';
import { fp32, int64 } from '../oip/wire.js';

let pool: ScorePool;
beforeAll(() => {
  pool = new ScorePool({ workers: 2, maxQueue: 16, workerMemoryMb: 512 });
});
afterAll(() => pool.close());

const encoder = new TextEncoder();
const limits = { maxElements: 1_000_000 };
const scoreJob = (body: unknown, withLosses = true): BodyJob => ({ protocol: 'score', bytes: encoder.encode(JSON.stringify(body)), withLosses, limits });

/** The same outcome byte for byte: the worker's bytes against the event loop's text or bytes. */
function expectIdentical(inline: BodyOutcome, worker: BodyOutcome<Uint8Array>): void {
  expect(worker.ok).toBe(inline.ok);
  if (inline.ok && worker.ok) {
    const expected = typeof inline.body === 'string' ? encoder.encode(inline.body) : inline.body;
    expect(Buffer.from(worker.body).equals(Buffer.from(expected))).toBe(true);
    expect({ ...worker, body: null }).toEqual({ ...inline, body: null });
  } else {
    expect(worker).toEqual(inline);
  }
}

/** Runs a job inline (on a copy of its bytes) and in the pool, and compares. */
async function both(job: BodyJob): Promise<BodyOutcome<Uint8Array>> {
  const inline = scoreBody({ ...job, bytes: job.bytes.slice() });
  const worker = await pool.run(job);
  expectIdentical(inline, worker);
  return worker;
}

describe('ScorePool', () => {
  it('answers random JSON bodies byte for byte as the event loop does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer(),
        fc.constantFrom<'nats' | 'bits'>('nats', 'bits'),
        fc.boolean(),
        async (rows, classes, seed, unit, withLosses) => {
          let s = seed >>> 0 || 1;
          const random = () => ((s = (s * 48271) % 2147483647) / 2147483647) * 40 - 20;
          const body = {
            logits: Array.from({ length: rows }, () => Array.from({ length: classes }, random)),
            labels: Array.from({ length: rows }, (_, i) => (i % 5 === 4 ? -100 : Math.floor(Math.abs(random()) * classes) % classes)),
            label_smoothing: 0.1,
            class_weights: Array.from({ length: classes }, () => Math.abs(random())),
            unit,
          };
          expect((await both(scoreJob(body, withLosses))).ok).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('answers binary inference-protocol bodies byte for byte as the event loop does, binary answers included', async () => {
    const header = JSON.stringify({
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } },
        { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
      ],
      parameters: { binary_data_output: true },
    });
    const bytes = Buffer.concat([Buffer.from(header), fp32([2, 1, 0.1, 0.5, 2.5, 0.3]), int64([0, 1])]);
    const job: BodyJob = { protocol: 'inference', bytes: new Uint8Array(bytes), headerLength: String(header.length), limits };
    const outcome = await both(job);
    expect(outcome.ok && outcome.inferenceHeaderLength).toBeGreaterThan(0);
  });

  it('moves the body to the worker instead of copying it, when the body owns its buffer', async () => {
    const job = scoreJob({ logits: [[0, 1]], labels: [0] });
    const pending = pool.run(job);
    expect(job.bytes.byteLength).toBe(0); // detached: transferred
    expect((await pending).ok).toBe(true);
  });

  it('copies a body that is a view of a larger buffer (a small Buffer: a slice of Node\'s shared pool), leaving that buffer whole', async () => {
    const body = Buffer.from(JSON.stringify({ logits: [[0, 1]], labels: [0] }));
    expect(body.byteLength).toBeLessThan(body.buffer.byteLength); // pooled
    const poolBytes = body.buffer.byteLength;
    const job: BodyJob = { protocol: 'score', bytes: body, withLosses: false, limits };
    expect((await pool.run(job)).ok).toBe(true);
    expect(body.buffer.byteLength).toBe(poolBytes); // not detached
    expect(JSON.parse(body.toString('utf8'))).toEqual({ logits: [[0, 1]], labels: [0] });
    expect(Buffer.from('still usable').toString()).toBe('still usable');
  });

  it('reports refused bodies (problems of the kernel and of the codec) the same way as the event loop', async () => {
    for (const body of [
      { probabilities: [[0.5, 0.7]], labels: [0] },
      { probabilities: [[1, 0]], labels: [1] },
      { logits: [[1, 2]], labels: [0], logitz: 1 },
    ]) {
      expect((await both(scoreJob(body))).ok).toBe(false);
    }
  });

  it('refuses work once closed', async () => {
    const closed = new ScorePool({ workers: 1, maxQueue: 1, workerMemoryMb: 512 });
    await closed.close();
    await expect(closed.run(scoreJob({ logits: [[0, 1]], labels: [0] }))).rejects.toBeInstanceOf(PoolUnavailableError);
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

  it("runs exactly the pool's threads at the configured nice value, and scores the same there", async () => {
    const before = threadNices().filter((n) => n === 7).length;
    const niced = new ScorePool({ workers: 2, maxQueue: 4, workerMemoryMb: 512, workerNice: 7 });
    try {
      const body = { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] };
      const expected = scoreBody(scoreJob(body));
      // Both threads busy at once, so both have started (and set their priority).
      const results = await Promise.all([niced.run(scoreJob(body)), niced.run(scoreJob(body))]);
      for (const r of results) expectIdentical(expected, r);
      expect(threadNices().filter((n) => n === 7).length - before).toBe(2);
    } finally {
      await niced.close();
    }
  });
});

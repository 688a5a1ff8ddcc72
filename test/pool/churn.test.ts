/**
 * Pools started, killed and closed over and over while their workers are still loading, under concurrent tasks of
 * both kinds.
 *
 * A regression test for a process abort. On Node 20.19+, 22.x and 24.0-24.8, a worker thread terminated (pool.close(),
 * an aborted task, a worker being replaced) while it instantiates an ES module graph that it loaded with require()
 * makes V8 abort the whole process ("FATAL ERROR: v8::Module::IsGraphAsync must be used on an instantiated module").
 * Piscina require()s its worker file, so the pool loads its workers through a CommonJS entry that import()s the ES
 * module instead (src/pool/entry.cts). That in turn let a terminated worker on Node 24 run on into piscina's
 * Atomics.wait and never exit, so that close() never ended (hence `atomics: 'disabled'`): a hang here is a timeout.
 * The assertion that matters most is implicit: the test process is still alive at the end. The explicit ones check
 * that every task was scored right or failed for a reason it may fail for.
 *
 * Terminations have to land in the short instantiation step, so half of the pools load a worker module made slow to
 * instantiate (a few thousand imports resolved through `export *`; it re-exports the real handlers). The delays below
 * spread the kills over the loading time; they are inputs, never checked: there are no timing assertions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreBody, type BodyJob } from '../../src/codec/body.js';
import { PoolUnavailableError, ScorePool } from '../../src/pool/scorePool.js';

// ---------------------------------------------------------------------------------------------------------------
// Adapter: the only part of this file that knows the pool's API (ScorePool's run and close, its test-only
// `filename` option, PoolUnavailableError and its reasons). The two kinds are the two protocols' bodies.
// ---------------------------------------------------------------------------------------------------------------

type Kind = 'score' | 'inference';

interface PoolUnderTest {
  /** Runs one job of the given kind and checks its answer against the inline one, byte for byte; rejects if not run. */
  submit(kind: Kind, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

const limits = { maxElements: 1_000_000 };
const SCORE = JSON.stringify({ logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1], label_smoothing: 0.1 });
const INFERENCE = JSON.stringify({
  inputs: [
    { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] },
    { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
  ],
});

function job(kind: Kind): BodyJob {
  return kind === 'score'
    ? { protocol: 'score', bytes: new TextEncoder().encode(SCORE), withLosses: true, limits }
    : { protocol: 'inference', bytes: new TextEncoder().encode(INFERENCE), headerLength: undefined, limits };
}

const text = (body: string | Uint8Array) => (typeof body === 'string' ? body : new TextDecoder().decode(body));

/** A pool of `workers` threads; `module` is a worker module other than the real one (a path), for tests only. */
function startPool(workers: number, module?: string): PoolUnderTest {
  const pool = new ScorePool({ workers, maxQueue: 64, workerMemoryMb: 256, ...(module === undefined ? {} : { filename: module }) });
  return {
    async submit(kind, signal) {
      const got = await pool.run(job(kind), signal);
      const want = scoreBody(job(kind));
      if (!got.ok || !want.ok) throw new Error('not scored');
      expect(text(got.body)).toBe(text(want.body));
    },
    close: () => pool.close(),
  };
}

/** Why a task was not run, as one of the words `outcomes` counts; anything unexpected is kept verbatim. */
function notRunBecause(err: unknown): string {
  if (err instanceof PoolUnavailableError && (err.reason === 'closed' || err.reason === 'aborted')) return err.reason;
  return `unexpected: ${err instanceof Error ? err.stack : String(err)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// End of the adapter.
// ---------------------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Delays spread over a worker's loading time (deterministic, so that a failure can be re-run the same way). */
const spread = (i: number) => (i * 53) % 420;

/** Settles the tasks and counts their outcomes: 'ok', or why they were not run. */
async function outcomes(tasks: Promise<void>[], into: Map<string, number>): Promise<void> {
  for (const r of await Promise.allSettled(tasks)) {
    const key = r.status === 'fulfilled' ? 'ok' : notRunBecause(r.reason);
    into.set(key, (into.get(key) ?? 0) + 1);
  }
}

const unexpected = (counts: Map<string, number>, allowed: string[]) => [...counts.keys()].filter((k) => !allowed.includes(k));

/**
 * A worker module whose ES module graph takes long to instantiate: it imports 80 × 40 names from a hub that
 * re-exports 80 modules with `export *` (each import is resolved by a walk over the star exports), and re-exports the
 * real worker's handler.
 */
function writeSlowModule(dir: string): string {
  const realWorker = new URL('../../dist/pool/worker.js', import.meta.url).href;
  const names: string[] = [];
  for (let i = 0; i < 80; i++) {
    const own = Array.from({ length: 40 }, (_, k) => `x${i}_${k}`);
    names.push(...own);
    writeFileSync(join(dir, `l${i}.js`), `export const ${own.map((n) => `${n} = ${i}`).join(', ')};\n`);
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(dir, 'hub.js'), Array.from({ length: 80 }, (_, i) => `export * from './l${i}.js';`).join('\n'));
  writeFileSync(
    join(dir, 'worker.js'),
    `import { ${names.join(', ')} } from './hub.js';\nexport { default } from '${realWorker}';\n`,
  );
  return join(dir, 'worker.js');
}

describe('pool churn: workers terminated while they load', () => {
  let dir: string;
  let slowModule: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'xent-churn-'));
    slowModule = writeSlowModule(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pools closed while their workers load, with tasks of both kinds submitted at once: no crash, every task right or closed', async () => {
    const counts = new Map<string, number>();
    const closing: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      // 3 workers for 2 tasks: the idle one is terminated by close() wherever its loading has got to.
      const pool = startPool(3, i % 2 === 0 ? slowModule : undefined);
      const settled = outcomes([pool.submit('score'), pool.submit('inference')], counts);
      closing.push(sleep(spread(i)).then(() => pool.close()).then(() => settled));
      if (closing.length >= 3) await closing.shift(); // a few pools at a time, overlapping
    }
    await Promise.all(closing);
    expect(unexpected(counts, ['ok', 'closed'])).toEqual([]);
  }, 180_000);

  it('workers killed by aborted tasks while loading are replaced, and the replacements closed while loading', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const pool = startPool(2, i % 2 === 0 ? slowModule : undefined);
      for (let round = 0; round < 2; round++) {
        // Tasks of both kinds at once; two of them carry a signal that fires during the loading. Piscina terminates
        // the worker that holds an aborted task (the first round's workers are given tasks before they are loaded)
        // and starts another.
        const controller = new AbortController();
        const tasks = [pool.submit('score', controller.signal), pool.submit('inference', controller.signal), pool.submit('inference'), pool.submit('score')];
        const timer = setTimeout(() => controller.abort(), spread(i * 2 + round));
        await outcomes(tasks, counts);
        clearTimeout(timer); // never during close(): an abort then makes piscina's close() wait for its closeTimeout
      }
      await pool.close(); // the replacements may still be loading
    }
    expect(unexpected(counts, ['ok', 'aborted'])).toEqual([]);
    expect(counts.get('ok')).toBeGreaterThanOrEqual(12 * 2 * 2); // the tasks without a signal were all scored
  }, 180_000);

  it('a pool started after the churn scores both kinds', async () => {
    const pool = startPool(2);
    try {
      await Promise.all([pool.submit('score'), pool.submit('inference'), pool.submit('inference'), pool.submit('score')]);
    } finally {
      await pool.close();
    }
  });
});

/**
 * Scaling out (README "Scaling out"): a dataset sharded across three server processes, as any client would shard it
 * across replicas behind a Service, each batch answered with its state, and the states merged by POST /merge on one
 * of them: the figures equal one request over all of the data, within 2 ulp for sums, costs and perplexity and exactly
 * for counts, whatever the order, and whether the replicas' states are merged at once or first per replica.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatenated, expectWithinUlps, makeBatches } from '../dataset.js';
import { mulberry32 } from '../random.mjs';
import { startServer, type Running } from './process.js';

const OPTIONS = {
  class_weights: [1, 0.5, 2, 1.25, 3, 0.75, 1, 0.125],
  label_smoothing: 0.1,
  include: ['entropy', 'brier', 'top_k'],
};
const batches = makeBatches(5, 48, 8, 40);
const FIGURES = ['sum', 'cost', 'total_weight', 'perplexity', 'mean_entropy', 'brier'];

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await res.json()) as Record<string, unknown>;
  expect(res.status, JSON.stringify(answer)).toBe(200);
  return answer;
}

function shuffled<T>(items: T[], seed: number): T[] {
  const random = mulberry32(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('a dataset sharded across three replicas, merged with POST /merge', () => {
  let servers: Running[] = [];
  let whole: Record<string, unknown>;
  let states: { server: number; state: unknown }[];

  beforeAll(async () => {
    servers = await Promise.all([0, 1, 2].map(() => startServer({ WORKERS: '1', LOG_LEVEL: 'warn' })));
    whole = await postJson(`${servers[0]!.url}/cost`, { ...concatenated(batches), ...OPTIONS });
    // Batch i to replica i mod 3, all at once, each answer with its state.
    states = await Promise.all(
      batches.map(async (batch, i) => {
        const server = i % 3;
        const answer = await postJson(`${servers[server]!.url}/cost`, { ...batch, ...OPTIONS, include: [...OPTIONS.include, 'state'] });
        return { server, state: answer.state };
      }),
    );
  }, 60_000);
  afterAll(() => {
    for (const s of servers) s.child.kill('SIGTERM');
  });

  function expectWhole(merged: Record<string, unknown>): void {
    expect(merged.count).toBe(whole.count);
    expect(merged.accuracy).toBe(whole.accuracy);
    expect(merged.top_k_accuracy).toEqual(whole.top_k_accuracy);
    expectWithinUlps(merged, whole, FIGURES, 2);
  }

  it('every state merged at once on one replica, in any order - the one-request figures', async () => {
    for (const [seed, server] of [[1, 1], [2, 2], [3, 0]] as const) {
      const merged = await postJson(`${servers[server]!.url}/merge`, { states: shuffled(states, seed).map((s) => s.state) });
      expectWhole(merged);
    }
  });

  it('each replica\'s states merged there first, then the three merged states - the same figures', async () => {
    const perReplica = await Promise.all(
      servers.map((s, i) => postJson(`${s.url}/merge`, { states: states.filter((x) => x.server === i).map((x) => x.state) })),
    );
    const merged = await postJson(`${servers[2]!.url}/merge`, { states: perReplica.map((m) => m.state) });
    expectWhole(merged);
    expect((merged.state as { loss: { count: number } }).loss.count).toBe(whole.count);
  });
});

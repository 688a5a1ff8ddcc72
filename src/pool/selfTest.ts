import { scoreBody, type BodyJob } from '../codec/body.js';
import type { ScorePool } from './scorePool.js';

/** A tiny request whose answer the pool must reproduce byte for byte before the service reports ready. */
const CHECK = new TextEncoder().encode('{"logits":[[2,1,0.1],[0.5,2.5,0.3]],"labels":[0,1]}');

/**
 * The pool's start-up check: a worker scores a known body and its answer must equal the event loop's, byte for byte.
 * It proves that the worker build loads, and that both paths compute alike. Throws when they do not.
 */
export async function selfTest(pool: ScorePool): Promise<void> {
  const job = (): BodyJob => ({ protocol: 'score', bytes: CHECK.slice(), withLosses: true, limits: { maxElements: 6 } });
  const inline = scoreBody(job());
  const worker = await pool.run(job());
  const text = worker.ok ? new TextDecoder().decode(worker.body) : null;
  if (!inline.ok || text !== inline.body) throw new Error('the worker pool gave a different answer to the start-up check than the event loop');
}

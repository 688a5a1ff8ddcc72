import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { scoreBody, type BodyOutcome } from '../codec/body.js';
import { reuseTensorBuffers } from '../codec/tensorBuffers.js';
import { ProblemError, type Issue } from '../codec/problems.js';
import { decodeContent } from './contentEncoding.js';
import type { PoolJob } from './dispatch.js';

/**
 * Scoring threads run at a lower CPU priority than the event loop (Linux: setpriority on the thread's own id, which
 * affects that thread only), so that probes, small requests and the moving of buffers are not queued behind large
 * batches when every core is busy. Best effort: elsewhere, or if refused, the thread keeps the default priority.
 */
function lowerPriority(nice: number): void {
  if (nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not Linux, or not allowed: keep the default priority
  }
}
lowerPriority(Number((workerData as { nice?: unknown } | undefined)?.nice ?? 0));
// A worker scores one body at a time, start to end: its large binary tensors can reuse one request's buffers the next.
reuseTensorBuffers();

/** Wraps a result so that piscina moves `buffer` back to the main thread instead of copying it. */
function moving<T extends object>(value: T, buffer: ArrayBufferLike): T {
  return move({
    get [transferableSymbol]() {
      return [buffer];
    },
    get [valueSymbol]() {
      return value;
    },
  }) as unknown as T;
}

const encoder = new TextEncoder();

/**
 * The pool's one entry point (piscina loads a worker module once per handler name, so there is exactly one): the body
 * inflated if it came compressed, then the same `scoreBody` as the inline path, with the answer as bytes whose buffer
 * is moved, not copied, to the event loop.
 */
export default function scoreInWorker(job: PoolJob): BodyOutcome<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = decodeContent(job.bytes, job.contentEncoding ?? 'identity', job.maxBodyBytes ?? Infinity);
  } catch (err) {
    if (err instanceof ProblemError) return { ok: false, issues: err.issues as [Issue, ...Issue[]] };
    throw err;
  }
  const outcome = scoreBody({ ...job, bytes });
  if (!outcome.ok) return outcome;
  let body = typeof outcome.body === 'string' ? encoder.encode(outcome.body) : outcome.body;
  // A small Buffer may be a slice of Node's shared pool: moving that buffer would take the pool from under others.
  if (body.byteOffset !== 0 || body.byteLength !== body.buffer.byteLength) body = new Uint8Array(body); // a copy (Buffer#slice is a view)
  return moving({ ...outcome, body }, body.buffer);
}

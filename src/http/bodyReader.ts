import { errorCodes, type FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { describeBytes } from '../byteSize.js';
import { ProblemError } from '../codec/problems.js';
import { copyIntoShared, type BodyLease, type SharedBodies } from '../pool/sharedBodies.js';

type Done = (err: Error | null, body?: Buffer) => void;

/** The 413 for a body of `size` (described) over `limit` bytes, with what to do about it. */
export function bodyTooLarge(size: string, limit: number, advice: string): ProblemError {
  return ProblemError.of('XENT_BODY_TOO_LARGE', '', `the body is ${size}, over the limit of ${describeBytes(limit, 'BODY_LIMIT')}; ${advice}`);
}

/** What to do about a body over BODY_LIMIT, by protocol: binary numbers take 2 to 8 bytes, JSON text 5 to 25. */
export const TOO_LARGE_ADVICE = {
  json: 'binary tensors are 2–4× smaller than JSON numbers: send large batches to the inference protocol (POST /v2/models/cross_entropy/infer with FP32 or FP16 binary tensor data), or raise BODY_LIMIT',
  inference: 'binary tensor data is 2–4× smaller than JSON data: send the tensors as binary FP32, FP16 or BF16 (parameters.binary_data_size and Inference-Header-Content-Length), or raise BODY_LIMIT',
} as const;

/** Where the bodies that go to a worker are read: shared buffers, for scoring routes' bodies of more than `minBytes`. */
export interface SharedReading {
  bodies: SharedBodies;
  /** Bodies up to this many bytes are scored on the event loop (INLINE_MAX_BYTES): not worth a shared buffer. */
  minBytes: number;
}

/**
 * A content-type parser that reads a body into ONE buffer as it arrives. Fastify's own (`parseAs: 'buffer'`) keeps
 * the chunks and concatenates them at the end: for a 64 MiB body that is one 64 MiB copy in a single event-loop turn,
 * right when the body is complete, which is what holds the probes up. Here a body whose Content-Length is known gets
 * its buffer at once and every chunk is copied into place as it comes, so the copying is spread over the arrival; a
 * chunked body grows its buffer by doubling. The buffer is owned (offset 0, its own ArrayBuffer), so the pool moves it
 * to a worker without another copy.
 *
 * A scoring route's body bound for a worker (over `shared.minBytes`) is read into a shared buffer (pool/sharedBodies),
 * which the worker reads in place and the dispatch gives back: no allocation per request on the event loop. A body
 * that arrives in one piece (a small one, usually) is taken as it came, without a copy.
 *
 * The semantics are Fastify's: 413 for a declared or received length beyond `limit` (XENT_BODY_TOO_LARGE, saying the
 * size, the limit and `advice`), 400 FST_ERR_CTP_INVALID_CONTENT_LENGTH when the body is not as long as it said, a
 * stream error as a 400.
 */
export function readWholeBody(limit: number, advice: string, shared?: SharedReading) {
  const tooLarge = (size: string) => bodyTooLarge(size, limit, advice);
  return (request: FastifyRequest, payload: IncomingMessage, done: Done): void => {
    const declared = Number(request.headers['content-length']);
    if (declared > limit) {
      done(tooLarge(describeBytes(declared, 'Content-Length')));
      return;
    }
    const known = !Number.isNaN(declared);
    let lease: BodyLease | null = null;
    if (shared !== undefined && known && declared > shared.minBytes && request.routeOptions.config?.scoring === true) {
      // Binary tensors follow an inference request's JSON header: start the body so that they are 8-byte aligned,
      // and a worker converts them with typed arrays straight from the shared buffer.
      const header = Number(request.headers['inference-header-content-length']);
      lease = shared.bodies.acquire(declared, Number.isSafeInteger(header) && header >= 0 ? (8 - (header % 8)) % 8 : 0);
    }
    let buffer: Uint8Array | null = lease?.bytes ?? null;
    /** The body when it came in one chunk of the declared length and no buffer was needed. */
    let whole: Buffer | null = null;
    let received = 0;

    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (received + bytes.length > limit) {
        fail(tooLarge(`more than ${describeBytes(limit)}`));
        return;
      }
      if (buffer === null) {
        if (received === 0 && known && bytes.length === declared) {
          whole = bytes;
          received = bytes.length;
          return;
        }
        buffer = new Uint8Array(known ? declared : Math.max(64 * 1024, bytes.length));
        if (whole !== null) buffer.set(whole);
        whole = null;
      }
      if (received + bytes.length > buffer.length) {
        const grown = new Uint8Array(Math.min(limit, Math.max(2 * buffer.length, received + bytes.length)));
        grown.set(buffer.subarray(0, received));
        buffer = grown;
      }
      if (lease !== null) copyIntoShared(buffer, received, bytes);
      else buffer.set(bytes, received);
      received += bytes.length;
    };
    const onEnd = (err?: Error & { statusCode?: number }): void => {
      if (err !== undefined && err !== null) {
        if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
        fail(err);
        return;
      }
      if (known && received !== declared) {
        fail(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        return;
      }
      stop();
      if (lease !== null) done(null, lease.bytes);
      else if (whole !== null) done(null, whole);
      else done(null, buffer === null ? Buffer.alloc(0) : Buffer.from(buffer.buffer, 0, received));
    };
    const fail = (err: Error): void => {
      stop();
      lease?.release();
      done(err);
    };
    const stop = (): void => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onEnd);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  };
}

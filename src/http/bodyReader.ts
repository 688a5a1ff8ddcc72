import { errorCodes, type FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { describeBytes } from '../byteSize.js';
import { ProblemError } from '../codec/problems.js';

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

/**
 * A content-type parser that reads a body into ONE buffer as it arrives, for bodies that go to a worker whole.
 * Fastify's own (`parseAs: 'buffer'`) keeps the chunks and concatenates them at the end: for a 64 MiB body that is one
 * 64 MiB copy in a single event-loop turn, right when the body is complete, which is what holds the probes up. Here a
 * body whose Content-Length is known gets its buffer at once (zero pages, mapped lazily) and every chunk is copied
 * into place as it comes, so the copying is spread over the arrival; a chunked body grows its buffer by doubling.
 * The buffer is owned (offset 0, its own ArrayBuffer), so the pool moves it to a worker without another copy.
 *
 * The semantics are Fastify's: 413 for a declared or received length beyond `limit` (XENT_BODY_TOO_LARGE, saying the
 * size, the limit and `advice`), 400 FST_ERR_CTP_INVALID_CONTENT_LENGTH when the body is not as long as it said, a
 * stream error as a 400.
 */
export function readWholeBody(limit: number, advice: string) {
  const tooLarge = (size: string) => bodyTooLarge(size, limit, advice);
  return (request: FastifyRequest, payload: IncomingMessage, done: Done): void => {
    const declared = Number(request.headers['content-length']);
    if (declared > limit) {
      done(tooLarge(describeBytes(declared, 'Content-Length')));
      return;
    }
    let buffer = new Uint8Array(Number.isNaN(declared) ? 64 * 1024 : declared);
    let received = 0;

    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (received + bytes.length > limit) {
        stop();
        done(tooLarge(`more than ${describeBytes(limit)}`));
        return;
      }
      if (received + bytes.length > buffer.length) {
        const grown = new Uint8Array(Math.min(limit, Math.max(2 * buffer.length, received + bytes.length)));
        grown.set(buffer.subarray(0, received));
        buffer = grown;
      }
      buffer.set(bytes, received);
      received += bytes.length;
    };
    const onEnd = (err?: Error & { statusCode?: number }): void => {
      stop();
      if (err !== undefined && err !== null) {
        if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
        done(err);
        return;
      }
      if (!Number.isNaN(declared) && received !== declared) {
        done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        return;
      }
      done(null, Buffer.from(buffer.buffer, 0, received));
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

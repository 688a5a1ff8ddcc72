import { gunzipSync, inflateSync } from 'node:zlib';
import { ProblemError } from '../codec/problems.js';

/** The Content-Encodings a request body may come in (Triton's client compresses with gzip or deflate on request). */
export const CONTENT_ENCODINGS = ['identity', 'gzip', 'deflate'] as const;
export type ContentEncoding = (typeof CONTENT_ENCODINGS)[number];

/**
 * The body as sent, or inflated as its Content-Encoding says, within `maxBytes` after inflating too (no zip bombs).
 * Synchronous: it runs in a worker thread, where a compressed body is always sent (65 kB of gzip can inflate to 64 MiB,
 * so the compressed size says nothing about the work).
 */
export function decodeContent(bytes: Uint8Array, encoding: ContentEncoding, maxBytes: number): Uint8Array {
  if (encoding === 'identity') return bytes;
  try {
    return (encoding === 'gzip' ? gunzipSync : inflateSync)(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw ProblemError.of('XENT_BODY_TOO_LARGE', '', `the decompressed request body exceeds the limit of ${maxBytes} bytes (BODY_LIMIT)`);
    }
    throw ProblemError.of('XENT_BAD_REQUEST', '', `the body is not valid ${encoding} data, as Content-Encoding says`);
  }
}

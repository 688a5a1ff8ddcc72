import { createHash } from 'node:crypto';
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';

/**
 * Who a scoring request counts against in the rate limit. With API_KEYS set, the API key it was authenticated with:
 * every spelling of the header that carries one key (`Bearer`, `bearer`, extra headers...) is one bucket, and a
 * request without a valid key never reaches the limiter (it is answered 401 first), so it cannot open a bucket.
 * Without API_KEYS, the client address: Fastify's `request.ip`, which follows X-Forwarded-For only as far as
 * TRUST_PROXY allows, so headers the client makes up do not make it someone else. IPv6 addresses count by /64 (one
 * client's usual allocation) and IPv4-mapped IPv6 addresses as IPv4, as @fastify/rate-limit does by default.
 *
 * Buckets are `key:<SHA-256 of the key>` and `addr:<address>`: keys are never kept in clear.
 */
export class RateLimitKeys {
  readonly #bucketOfKey: Map<string, string>;
  readonly #authenticated = new WeakMap<FastifyRequest, string>();

  constructor(apiKeys: readonly string[]) {
    this.#bucketOfKey = new Map(apiKeys.map((k) => [k, `key:${createHash('sha256').update(k).digest('hex')}`]));
  }

  /** The auth guard's word that `request` presented `key`, one of the configured keys (already compared in constant time). */
  authenticated(request: FastifyRequest, key: string): void {
    const bucket = this.#bucketOfKey.get(key);
    if (bucket !== undefined) this.#authenticated.set(request, bucket);
  }

  /** The rate-limit bucket of a request: its API key when it was authenticated with one, else its address. */
  bucketOf(request: FastifyRequest): string {
    return this.#authenticated.get(request) ?? `addr:${normalizeIP(request.ip)}`;
  }
}
